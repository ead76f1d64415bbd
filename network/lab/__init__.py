"""The lab: an environment of the model brought up as containers on this machine.

``engine`` makes sure a Docker engine runs, ``images`` builds the base images locally
(debootstrap → ``docker import`` → Dockerfiles), ``topology`` turns the model into
networks and nodes, and ``runtime`` makes Docker match that topology (up, down, status).
"""
