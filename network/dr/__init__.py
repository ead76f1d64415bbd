"""`jinbao dr`: disaster-recovery drills in the lab, measured, and the DR status.

- plan: what a drill acts on, from the model (sites, the clerk, name servers, hosts)
- loadgen: the clerk's write load, run on a township router (stdlib only)
- measure: RTO and RPO from the attempts log, by request id (pure)
- drill: the orchestration: load, inject, the dr/ playbooks, measure, fail back
- report: the drill's JSON and HTML (templates/drill.html.j2); history: drills.jsonl
- status: dr/status.yml and its status.json

A layer-2 verb beside network.lab: it drives the lab's containers through the node control
the CLI hands it (network.lab.control.NodeControl), never importing the lab itself.
"""
