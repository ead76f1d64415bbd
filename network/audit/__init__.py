"""`jinbao audit`: intended (rendered) vs running, per device and per feature, the level-3
rules, and the reports.

- diff: configuration compared as blocks, filed per feature, with the remediation
- run: the devices read and audited (and the servers checked meanwhile): `run_audit(env, ...)`
- reports: JSON, JUnit XML and the auditor's HTML page (templates/report.html.j2)
- counters: stale firewall permits from live counters (`jinbao zones stale`)
"""

from network.audit.diff import FEATURES, blocks, drift, feature_of, remediation
from network.audit.reports import write_reports
from network.audit.run import AuditRun, DeviceAudit, Policy, audit, audit_device, run_audit

__all__ = [
    "FEATURES",
    "AuditRun",
    "DeviceAudit",
    "Policy",
    "audit",
    "audit_device",
    "blocks",
    "drift",
    "feature_of",
    "remediation",
    "run_audit",
    "write_reports",
]
