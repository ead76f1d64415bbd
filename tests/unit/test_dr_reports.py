"""A DR drill's report and history (network/dr/report.py, history.py), the refusal outside the
lab, the drill's orchestration against fake nodes and playbooks, and the audit's drill section."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from network import envstate
from network.audit import DeviceAudit, drills, write_reports
from network.dr import history, report
from network.dr.drill import Drill, DrillRefused, PlaybookRun, refuse
from network.dr.plan import DrillPlan

GENERATED = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)
PLAN = DrillPlan(
    environment="lab",
    business_site="zj-dc",
    dr_sites=("zj-dr",),
    zone="zhejiang.lab.jinbao.internal",
    db_name="pension",
    clerk="choucheng-r1",
    clerk_source="10.0.0.1",
    township="choucheng",
    name_servers=("10.5.2.10", "10.5.6.12"),
    web_hosts=("zj-dc-web1", "zj-dr-web1"),
    db_hosts=("zj-dc-db1", "zj-dr-db1"),
    lost_in_failover=("zj-dc-db1", "zj-dc-app1"),
    hosts_by_address={"10.5.1.11": "zj-dc-web1", "10.5.6.11": "zj-dr-web1"},
)


def drill_report(ok: bool = True, lost: int = 0, **extra) -> dict:
    return {
        "drill": "drill-20261128T020000Z",
        "environment": "lab",
        "kind": "failover",
        "mode": "sync",
        "started": "2026-11-28T02:00:00Z",
        "finished": "2026-11-28T02:04:00Z",
        "client": {"township": "choucheng", "router": "choucheng-r1", "source": "10.0.0.1", "name": "web.z"},
        "bounds": {"writes": 600, "seconds": 240},
        "stall_s": 2.0,
        "rto_s": 41.5,
        "rto_at_least_s": None,
        "recovered": True,
        "window": {"disrupted": True, "last_ack_before": 1.0, "first_disrupted": 2.0, "first_ack_after": 42.5},
        "acknowledged": 300,
        "lost": lost,
        "rpo": {"lost_ids": [f"drill-x-{n}" for n in range(lost)], "checks": []},
        "writes": {
            "attempts": 310,
            "ids": 301,
            "failed_attempts": 10,
            "stalled_attempts": 0,
            "why": {},
            "answered_by": {},
        },
        "back_to_normal": True,
        "ok": ok,
        "problems": [],
        "timeline": [],
        "playbooks": [],
        "attempts": [],
        **extra,
    }


# --- report ---------------------------------------------------------------------------------
def test_the_report_is_written_as_json_and_html_under_build_dr(tmp_path: Path) -> None:
    paths = report.write(tmp_path / "inventories" / "lab", drill_report(), root=tmp_path)
    assert paths["json"] == str(tmp_path / "build" / "dr" / "lab" / "drill-20261128T020000Z.json")
    assert json.loads(Path(paths["json"]).read_text())["rto_s"] == 41.5
    page = Path(paths["html"]).read_text()
    assert "Passed" in page and "RTO 41.5 s" in page and "0 of 300 acknowledged writes lost" in page
    assert "30 s TTL" in page and "@media print" in page


def test_the_page_escapes_what_came_from_the_lab(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    attempts = [{"id": evil, "start": 1.0, "end": 2.0, "status": "<b>503</b>", "address": ""}]
    run = {"playbook": "dr/failover.yml", "args": ["-e", "confirm=yes"], "rc": 2, "seconds": 3.0, "tail": evil}
    page = report.html(drill_report(False, problems=[evil], attempts=attempts, playbooks=[run]))
    assert evil not in page and "<b>503</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;503&lt;/b&gt;" in page
    assert "FAILED" in page


def test_lost_writes_are_listed_by_request_id() -> None:
    page = report.html(drill_report(False, lost=2))
    assert "drill-x-0\ndrill-x-1" in page and "2 of 300 acknowledged writes lost" in page


# --- history --------------------------------------------------------------------------------
def test_the_history_appends_one_line_per_drill_and_reads_them_back(tmp_path: Path) -> None:
    env = tmp_path / "inventories" / "lab"
    assert history.read(env, tmp_path) == [] and history.last(env, tmp_path) is None
    history.append(env, history.line_of(drill_report(), {"html": "a.html"}), tmp_path)
    history.append(env, history.line_of(drill_report(False, lost=3), {"html": "b.html"}), tmp_path)
    path = envstate.drill_history(env, tmp_path)
    assert path == tmp_path / "build" / "dr" / "lab" / "drills.jsonl" and len(path.read_text().splitlines()) == 2
    last = history.last(env, tmp_path)
    assert last["lost"] == 3 and last["report"] == {"html": "b.html"} and "attempts" not in last
    assert history.summary(last).startswith("failover drill (sync) FAILED")


def test_a_damaged_history_line_is_skipped(tmp_path: Path) -> None:
    env = tmp_path / "lab"
    history.append(env, history.line_of(drill_report(), {}), tmp_path)
    with envstate.drill_history(env, tmp_path).open("a") as fh:
        fh.write('{"drill": "cut sho\n[1, 2]\n')
    assert [d["drill"] for d in history.read(env, tmp_path)] == ["drill-20261128T020000Z"]


# --- refusal --------------------------------------------------------------------------------
def test_a_drill_outside_the_lab_is_refused_saying_why(tmp_path: Path) -> None:
    with pytest.raises(DrillRefused, match=r"runs in the lab only") as refused:
        refuse(tmp_path, "failover")
    assert "injects failures into the lab's containers" in str(refused.value) and refused.value.exit_code == 2


def test_a_drill_of_another_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DrillRefused, match="switchover, failover"):
        refuse(tmp_path, "meteor")


def test_the_cli_refuses_a_drill_without_lab_state_and_touches_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from network.cli import app

    result = CliRunner().invoke(app, ["dr", "drill", str(tmp_path), "--kind", "switchover", "--json"])
    assert result.exit_code == 2 and "runs in the lab only" in result.stdout
    assert not (tmp_path / ".lab").exists()


# --- the orchestration, against fake nodes and playbooks ------------------------------------
class FakeLab:
    """Nodes and playbooks of a lab in which the clerk's log is given and the playbooks pass."""

    def __init__(self, log: str, found: str, rc: int = 0):
        self.log, self.found, self.rc = log, found, rc
        self.calls: list[str] = []
        self.primary = "zj-dc-db1"
        self.killed_at: float | None = None  # when the first power was cut

    def container(self, node: str) -> str:
        return f"jinbao-lab-{node}"

    def running(self, node: str) -> bool:
        return f"kill {node}" not in self.calls or f"start {node}" in self.calls

    def kill(self, node: str) -> None:
        self.calls.append(f"kill {node}")
        self.killed_at = self.killed_at or time.time()

    def start(self, node: str) -> None:
        self.calls.append(f"start {node}")

    def put(self, node: str, path: str, data: bytes, mode: int = 0o644) -> None:
        self.calls.append(f"put {node} {path}")

    def exec(self, node: str, argv: list[str], user: str = "root") -> tuple[int, str, str]:
        if argv[0] == "cat":
            return 0, self.log if argv[1].endswith("attempts.jsonl") else "-----BEGIN CERTIFICATE-----\n", ""
        if argv[0] == "psql":
            if "pg_is_in_recovery" in argv[-1]:
                return 0, "f" if node == self.primary else "t", ""
            return 0, self.found, ""
        return 0, "", ""

    def playbook(self, env, playbook, args, log) -> PlaybookRun:
        self.calls.append(f"{playbook} {' '.join(args)}")
        if playbook == "failover.yml":
            self.primary = "zj-dr-db1"
        if playbook == "failback.yml":
            self.primary = "zj-dc-db1"
        return PlaybookRun(f"dr/{playbook}", args, self.rc, 1.0)


ADDRESS = "10.5.6.11"


def attempts_log(prefix: str) -> str:
    """The clerk's log, its clock starting now: the drill's event comes at once, before write 4."""
    now = time.time()
    rows = [(1, 1.0, 1.1, 201), (2, 2.0, 2.1, 201), (3, 3.0, 3.1, 201), (4, 4.0, 14.0, "timeout"), (4, 15.0, 15.1, 201)]
    rows += [(5, 16.0, 16.1, 201), (6, 17.0, 17.1, 201), (7, 18.0, 18.1, 201)]
    return "".join(
        json.dumps(
            {"id": f"{prefix}{n:05d}", "start": now + s, "end": now + e, "status": str(c), "address": "10.5.6.11"}
        )
        + "\n"
        for n, s, e, c in rows
    )


def run_failover(tmp_path: Path, found_ids: int, asynchronous: bool = False) -> tuple[dict, FakeLab]:
    env = tmp_path / "lab"
    envstate.ssh_dir(env).mkdir(parents=True)
    (envstate.ssh_dir(env) / "id_ed25519").write_text("key")
    drill = Drill(env, PLAN, None, "failover", asynchronous, 100, 60, root=tmp_path, say=lambda _t: None)
    prefix = f"{drill.name}-"
    lab = FakeLab(attempts_log(prefix), "\n".join(f"{prefix}{n:05d}" for n in range(1, found_ids + 1)))
    drill.nodes, drill.runner = lab, lab.playbook
    drill.identity = lambda env, holder: (b"clerk key", f"certificate of {holder}".encode())
    return drill.run(), lab


def test_a_failover_drill_stops_the_business_site_runs_the_playbooks_and_fails_back(tmp_path: Path) -> None:
    result, lab = run_failover(tmp_path, found_ids=7)
    steps = [c for c in lab.calls if not c.startswith("put")]
    assert steps == [
        "kill zj-dc-db1",
        "kill zj-dc-app1",
        "failover.yml -e confirm=yes",
        "start zj-dc-db1",
        "start zj-dc-app1",
        "failback.yml -e confirm=yes",
    ]
    assert result["ok"] and result["recovered"] and result["back_to_normal"] and result["rto_s"] == pytest.approx(12.0)
    assert result["lost"] == 0 and result["acknowledged"] == 7
    assert [c["primary"] for c in result["rpo"]["checks"]] == ["zj-dr-db1", "zj-dc-db1"]
    assert result["writes"]["answered_by"] == {"zj-dr-web1": 7}
    # the outage is measured from the event's start: taken before the power was cut
    assert result["window"]["event_at"] <= lab.killed_at


def test_the_page_shows_the_event_and_the_failures_before_it_apart(tmp_path: Path) -> None:
    window = {"disrupted": True, "event_at": 1.5, "last_ack_before": 1.0, "first_ack_after": 42.5}
    page = report.html(drill_report(window={**window, "failures_before_event": 3}))
    assert "<td>00:00:01.500</td><td>00:00:01.000</td><td></td><td>00:00:42.500</td>" in page
    assert "<td>3</td></tr>" in page


def test_writes_lost_in_sync_mode_fail_the_drill_and_are_named(tmp_path: Path) -> None:
    result, _ = run_failover(tmp_path, found_ids=5)
    assert not result["ok"] and result["lost"] == 2
    assert [i[-5:] for i in result["rpo"]["lost_ids"]] == ["00006", "00007"]


def test_in_async_mode_the_mode_is_switched_and_back_and_a_loss_is_reported_not_failed(tmp_path: Path) -> None:
    result, lab = run_failover(tmp_path, found_ids=5, asynchronous=True)
    playbooks = [c for c in lab.calls if c.endswith("confirm=yes")]
    assert playbooks[0] == "replication-mode.yml -e mode=async -e confirm=yes"
    assert playbooks[-1] == "replication-mode.yml -e mode=sync -e confirm=yes"
    assert result["mode"] == "async" and result["lost"] == 2 and result["ok"]


# --- the audit ------------------------------------------------------------------------------
def audit_pages(tmp_path: Path, found: list[dict]) -> tuple[str, dict]:
    paths = write_reports(
        "lab", [DeviceAudit("anhui-r1", "huawei_vrp")], tmp_path / "out", generated=GENERATED, drills=found
    )
    return Path(paths["html"]).read_text(), json.loads(Path(paths["json"]).read_text())


def test_the_audit_says_when_no_drill_is_on_record(tmp_path: Path) -> None:
    assert drills.history(tmp_path / "lab", tmp_path) == []
    page, document = audit_pages(tmp_path, [])
    assert "no DR drill on record" in page
    assert document["dr_drills"] == [] and document["summary"]["dr_drill"] == "none"


def test_the_audit_shows_the_drill_history_newest_first(tmp_path: Path) -> None:
    env = tmp_path / "lab"
    history.append(env, history.line_of(drill_report(), {"html": "build/dr/lab/old.html"}), tmp_path)
    newest = drill_report(False, lost=4, drill="drill-20261205T020000Z", problems=["<i>dr/failback.yml failed</i>"])
    history.append(env, history.line_of(newest, {"html": "build/dr/lab/new.html"}), tmp_path)
    found = drills.history(env, tmp_path)
    assert [d["drill"] for d in found] == ["drill-20261205T020000Z", "drill-20261128T020000Z"]
    page, document = audit_pages(tmp_path, found)
    assert document["summary"]["dr_drill"] == "failed" and len(document["dr_drills"]) == 2
    assert "last DR drill FAILED" in drills.summary(found) and "1 of 2 drills on record passed" in page
    assert page.index("drill-20261205T020000Z") < page.index("drill-20261128T020000Z")
    assert "build/dr/lab/new.html" in page and "41.5 s" in page
    assert "&lt;i&gt;dr/failback.yml failed&lt;/i&gt;" in page and "<i>dr/failback.yml" not in page
