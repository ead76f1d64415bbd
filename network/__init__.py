"""jinbao-net: provisioning and audit of the social-insurance private network.

Modules, one verb each: ``model`` loads intent, ``ipam`` allocates addresses,
``render`` turns both into device configs.
"""

__version__ = "0.1.0"
