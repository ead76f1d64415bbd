"""The dr/ playbooks' decisions, run for real against stand-ins (no lab).

Every host is this machine (connection local); the replication and name server roles'
entry points are replaced by stubs that read and change a small simulated world (one JSON
file per database) and log each call, so the tests see what the playbooks decide, in which
order they act, what they refuse, and what they record. A host that is "lost" is one Ansible
cannot reach (SSH to a closed port). What the real roles do is the lab's test (tests/lab).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted(p.name for p in (ROOT / "dr").glob("*.yml"))
BIN = Path(sys.executable).parent

STUB_STATUS = """
- name: Stub status
  ansible.builtin.set_fact:
    postgresql_replication_status: "{{ lookup('file', world ~ '/' ~ inventory_hostname ~ '.json') | from_json }}"
"""


def stub_change(entry: str, change: str, fail_var: str = "") -> str:
    """A stub entry point: log the call, then merge `change` into this host's world file."""
    fail = (
        f"""
- name: Stub failure
  ansible.builtin.fail:
    msg: stub {entry} failed
  when: inventory_hostname in (stub_fail | default('')).split(',') and '{entry}' in (stub_fail_entry | default(''))
"""
        if fail_var
        else ""
    )
    return f"""
- name: Log the call
  ansible.builtin.command:
    argv: [sh, -c, 'echo "$1" >> "$2"', _, "{{{{ inventory_hostname }}}} {entry}", "{{{{ world }}}}/calls.log"]
{fail}
- name: Change the world
  ansible.builtin.copy:
    dest: "{{{{ world }}}}/{{{{ inventory_hostname }}}}.json"
    content: >-
      {{{{ (lookup('file', world ~ '/' ~ inventory_hostname ~ '.json') | from_json)
      | combine({change}) | to_json }}}}
    mode: "0644"
"""


def ns_stub(entry: str) -> str:
    """A name server stub: log the call with the records it was given."""
    line = f"{{{{ inventory_hostname }}}} {entry} {{{{ name_server_records | default({{}}) | to_json }}}}"
    return f"""
- name: Log the call
  ansible.builtin.command:
    argv: [sh, -c, 'echo "$1" >> "$2"', _, "{line}", "{{{{ world }}}}/calls.log"]
"""


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def primary(host: str, sync_state: str = "sync") -> dict:
    return {
        "host": host,
        "role": "primary",
        "timeline": 1,
        "lsn": "0/3000000",
        "sync_state": sync_state,
        "streaming": False,
        "lag_bytes": 0,
        "lag_seconds": 0,
        "mode": "sync",
        "degraded": False,
        "fenced": False,
    }


def standby(host: str, lsn: str = "0/3000100") -> dict:
    return {
        "host": host,
        "role": "standby",
        "timeline": 1,
        "lsn": lsn,
        "sync_state": "none",
        "streaming": True,
        "lag_bytes": 0,
        "lag_seconds": 0,
        "mode": "sync",
        "degraded": False,
        "fenced": False,
    }


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A two-site world: zj-dc-db1 primary, zj-dr-db1 streaming synchronously, both name servers primary."""
    world = tmp_path / "world"
    world.mkdir()
    roles = tmp_path / "roles"
    write(roles / "postgresql_replication/tasks/status.yml", STUB_STATUS)
    write(
        roles / "postgresql_replication/tasks/fence.yml",
        stub_change("fence", "{'role': 'down', 'fenced': true, 'streaming': false}", "x"),
    )
    write(
        roles / "postgresql_replication/tasks/promote.yml",
        stub_change("promote", "{'role': 'primary', 'streaming': false}", "x"),
    )
    write(
        roles / "postgresql_replication/tasks/follow.yml",
        stub_change("follow", "{'role': 'standby', 'streaming': true, 'fenced': false, 'lsn': '0/4000000'}", "x"),
    )
    write(
        roles / "postgresql_replication/tasks/mode.yml",
        stub_change(
            "mode-{{ postgresql_replication_mode_to }}",
            "{'mode': postgresql_replication_mode_to, 'degraded': postgresql_replication_mode_to == 'async'}",
        ),
    )
    for entry in ("promote", "demote", "records"):
        write(roles / f"name_server/tasks/{entry}.yml", ns_stub(entry))
    line = "{{ inventory_hostname }} fence-flows {{ zone_firewall_fenced | to_json }}"
    write(
        roles / "zone_firewall/tasks/fence.yml",
        f"""
- name: Log the call
  ansible.builtin.command:
    argv: [sh, -c, 'echo "$1" >> "$2"', _, "{line}", "{{{{ world }}}}/calls.log"]

- name: Stub failure
  ansible.builtin.fail:
    msg: stub fence-flows failed
  when: inventory_hostname in (stub_fail | default('')).split(',') and 'fence-flows' in (stub_fail_entry | default(''))
""",
    )
    fake = tmp_path / "bin"
    write(fake / "dig", "#!/bin/sh\necho ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1'\n", 0o755)
    write(fake / "named-checkconf", "#!/bin/sh\nprintf 'zone \"z.test\" {\\n\\ttype primary;\\n};\\n'\n", 0o755)
    write(
        fake / "pg_controldata",
        "#!/bin/sh\necho 'Database cluster state:               shut down'\n"
        "echo 'Latest checkpoint location:           0/3000028'\n",
        0o755,
    )
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    hosts = {}
    for site, octet in (("zj-dc", 1), ("zj-dr", 2)):
        for name, role, provides in (
            ("db1", "database", []),
            ("app1", "middleware", []),
            ("web1", "web", []),
            ("ops1", "ops", ["dns"]),
        ):
            host = f"{site}-{name}"
            # each host's own interpreter wrapper puts its own bin directory first, so that a test
            # can give one host a different stand-in (see acting())
            write(
                tmp_path / "py" / host,
                f'#!/bin/sh\nPATH={tmp_path}/hostbin/{host}:$PATH exec {sys.executable} "$@"\n',
                0o755,
            )
            (tmp_path / "hostbin" / host).mkdir(parents=True)
            hosts[host] = {
                **local,
                "ansible_python_interpreter": str(tmp_path / "py" / host),
                "jinbao_site": site,
                "jinbao_role": role,
                "jinbao_provides": provides,
                "jinbao_address": f"10.{octet}.0.{len(hosts) % 4 + 10}",
                "jinbao_dr_site": "zj-dr",
            }
    firewalls = {}
    for site in ("zj-dc", "zj-dr"):
        host = f"{site}-fw1"
        write(tmp_path / "py" / host, f'#!/bin/sh\nexec {sys.executable} "$@"\n', 0o755)
        firewalls[host] = {**local, "ansible_python_interpreter": str(tmp_path / "py" / host), "jinbao_site": site}
    inventory = {
        "all": {
            "vars": {
                "jinbao_business_site": "zj-dc",
                "jinbao_service_zone": "z.test",
                "world": str(world),
                "jinbao_service_names": {"db": "database", "app": "middleware", "web": "web"},
                "dr_pg_bindir": str(fake),
                "dr_state_dir": str(tmp_path / "state"),
            },
            "hosts": {"localhost": local},
            "children": {
                "firewalls": {"hosts": firewalls},
                "servers": {
                    "hosts": hosts,
                    "children": {"server_database": {"hosts": {"zj-dc-db1": None, "zj-dr-db1": None}}},
                },
            },
        }
    }
    env = tmp_path / "inv" / "testenv"
    write(env / "hosts.yml", yaml.safe_dump(inventory))
    (world / "zj-dc-db1.json").write_text(json.dumps(primary("zj-dc-db1")))
    (world / "zj-dr-db1.json").write_text(json.dumps(standby("zj-dr-db1")))
    (world / "calls.log").write_text("")
    acting(tmp_path, "zj-dr-ops1", "secondary")
    (tmp_path / "vault-password").write_text("unused\n")
    return tmp_path


def acting(lab: Path, host: str, zone_type: str) -> None:
    """What named on this name server says the zone is (primary or secondary)."""
    script = f"#!/bin/sh\nprintf 'zone \"z.test\" {{\\n\\ttype {zone_type};\\n}};\\n'\n"
    write(lab / "hostbin" / host / "named-checkconf", script, 0o755)


def lose(lab: Path, host: str) -> None:
    """Make a host unreachable: SSH to a closed port."""
    path = lab / "inv/testenv/hosts.yml"
    inventory = yaml.safe_load(path.read_text())
    inventory["all"]["children"]["servers"]["hosts"][host].update(
        {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1}
    )
    path.write_text(yaml.safe_dump(inventory))


def run(lab: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{lab / 'bin'}:{BIN}:{os.environ['PATH']}",
        "ANSIBLE_ROLES_PATH": str(lab / "roles"),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_INVENTORY_ENABLED": "yaml",
        "ANSIBLE_VAULT_PASSWORD_FILE": str(lab / "vault-password"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_TIMEOUT": "5",
    }
    args = [str(BIN / "ansible-playbook"), "-i", str(lab / "inv/testenv/hosts.yml"), str(ROOT / "dr" / playbook)]
    for item in extra:
        args += ["-e", item]
    return subprocess.run(args, env=env, cwd=lab, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


def calls(lab: Path) -> list[str]:
    """Each call's host and entry point, without the arguments logged after them."""
    return [re.split(r" [\[{]", line)[0] for line in (lab / "world/calls.log").read_text().splitlines()]


def records(lab: Path) -> list[dict]:
    path = lab / "state/operations.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


pytestmark = pytest.mark.skipif(not (BIN / "ansible-playbook").exists(), reason="needs the venv's ansible-playbook")


def test_the_six_playbooks_are_there() -> None:
    assert PLAYBOOKS == [
        "elect.yml",
        "failback.yml",
        "failover.yml",
        "replication-mode.yml",
        "status.yml",
        "switchover.yml",
    ]


@pytest.mark.parametrize("playbook", [p for p in PLAYBOOKS if p != "status.yml"])  # status reads, asks nothing
def test_without_confirm_and_without_a_terminal_nothing_happens(lab: Path, playbook: str) -> None:
    """Broken once by making dr_confirmed default to true: every playbook then acted."""
    if playbook == "failback.yml":
        after_failover(lab)
    if playbook == "elect.yml":
        both_standbys(lab)
    done = run(lab, playbook, "mode=async", "force=true")
    assert done.returncode != 0, done.stdout
    assert "Not confirmed" in done.stdout
    assert calls(lab) == []
    assert [r["result"] for r in records(lab)] == ["refused"]
    assert not (lab / "state/status.json").exists()


def test_failover_refuses_a_healthy_primary_and_changes_nothing(lab: Path) -> None:
    done = run(lab, "failover.yml", "confirm=yes")
    assert done.returncode != 0
    assert "zj-dc-db1 answers and is healthy" in done.stdout
    assert calls(lab) == []
    assert not (lab / "state/fenced.json").exists()
    (record,) = records(lab)
    assert record["what"] == "failover" and record["result"] == "refused"
    assert "healthy" in record["details"]["reason"]


def test_forced_failover_fences_first_then_promotes_degrades_and_moves_the_names(lab: Path) -> None:
    done = run(lab, "failover.yml", "confirm=yes", "force=true")
    assert done.returncode == 0, done.stdout
    # the DC's name server still answers: the names change there and reach the DR's by transfer
    assert calls(lab) == [
        "zj-dc-db1 fence",
        "zj-dr-fw1 fence-flows",
        "zj-dr-db1 promote",
        "zj-dr-db1 mode-async",
        "zj-dc-ops1 records",
    ]
    assert "RPO 0" in done.stdout
    fence = json.loads((lab / "state/fenced.json").read_text())
    assert fence["host"] == "zj-dc-db1" and "fence.yml" in fence["how"]
    record = records(lab)[-1]
    assert record["result"] == "succeeded" and record["details"]["to"] == "zj-dr-db1"
    moved = (lab / "world/calls.log").read_text().splitlines()[-1]
    assert json.loads(moved.split(" ", 2)[2]) == {"db": "10.2.0.10", "app": "10.2.0.11", "web": "10.2.0.12"}


def test_failover_of_a_lost_primary_records_the_fence_and_promotes(lab: Path) -> None:
    lose(lab, "zj-dc-db1")
    done = run(lab, "failover.yml", "confirm=yes")
    assert done.returncode == 0, done.stdout
    assert calls(lab) == ["zj-dr-fw1 fence-flows", "zj-dr-db1 promote", "zj-dr-db1 mode-async", "zj-dc-ops1 records"]
    fence = json.loads((lab / "state/fenced.json").read_text())
    assert fence["host"] == "zj-dc-db1" and fence["how"].startswith("recorded: unreachable")


def test_failover_of_a_lost_dc_promotes_the_dr_name_server_first(lab: Path) -> None:
    lose(lab, "zj-dc-db1")
    lose(lab, "zj-dc-ops1")
    done = run(lab, "failover.yml", "confirm=yes")
    assert done.returncode == 0, done.stdout
    assert calls(lab) == [
        "zj-dr-fw1 fence-flows",
        "zj-dr-db1 promote",
        "zj-dr-db1 mode-async",
        "zj-dr-ops1 promote",
        "zj-dr-ops1 records",
    ]


def test_a_failed_promotion_stops_the_sequence_and_is_recorded_failed(lab: Path) -> None:
    """Broken once by dropping the ledger guard on the names step: the names moved to a standby."""
    lose(lab, "zj-dc-db1")
    done = run(lab, "failover.yml", "confirm=yes", "stub_fail=zj-dr-db1", "stub_fail_entry=promote")
    assert done.returncode != 0
    assert calls(lab) == ["zj-dr-fw1 fence-flows", "zj-dr-db1 promote"]
    record = records(lab)[-1]
    assert record["result"] == "failed"
    assert record["details"]["failure"]["step"] == "promoted"
    assert record["details"]["steps_done"] == ["fenced", "flows_cut zj-dr-fw1"]


def test_switchover_fences_compares_the_final_lsn_promotes_moves_names_and_follows(lab: Path) -> None:
    done = run(lab, "switchover.yml", "confirm=yes")
    assert done.returncode == 0, done.stdout
    assert calls(lab) == ["zj-dc-db1 fence", "zj-dr-db1 promote", "zj-dc-ops1 records", "zj-dc-db1 follow"]
    assert "Zero data loss: zj-dc-db1 ended at 0/3000028" in done.stdout
    assert records(lab)[-1]["details"]["old_primary_final_lsn"] == "0/3000028"


def test_switchover_promotes_nothing_when_the_standby_lacks_the_final_wal(lab: Path) -> None:
    (lab / "world/zj-dr-db1.json").write_text(json.dumps(standby("zj-dr-db1", lsn="0/2000000")))
    done = run(lab, "switchover.yml", "confirm=yes", "dr_wait_rounds=2")
    assert done.returncode != 0
    assert calls(lab) == ["zj-dc-db1 fence"]
    assert records(lab)[-1]["details"]["failure"]["step"] == "caught_up"


def test_degrading_to_async_is_refused_while_the_standby_streams(lab: Path) -> None:
    done = run(lab, "replication-mode.yml", "confirm=yes", "mode=async")
    assert done.returncode != 0
    assert "healthy and streaming" in done.stdout
    assert calls(lab) == []


def test_degrading_to_async_when_the_dr_site_is_lost(lab: Path) -> None:
    lose(lab, "zj-dr-db1")
    done = run(lab, "replication-mode.yml", "confirm=yes", "mode=async")
    assert done.returncode == 0, done.stdout
    assert calls(lab) == ["zj-dc-db1 mode-async"]


def test_status_writes_status_json(lab: Path) -> None:
    (lab / "state").mkdir()
    (lab / "state/drills.jsonl").write_text('{"kind": "switchover", "rto_s": 1}\n{"kind": "failover", "rto_s": 9}\n')
    done = run(lab, "status.yml")  # read only: no confirm asked, even without a terminal
    assert done.returncode == 0, done.stdout
    state = json.loads((lab / "state/status.json").read_text())
    assert state["primary"] == "zj-dc-db1" and state["standbys"] == ["zj-dr-db1"]
    assert state["last_drill"] == {"kind": "failover", "rto_s": 9}
    assert records(lab)[-1]["result"] == "succeeded"
    assert calls(lab) == []


def after_failover(lab: Path) -> None:
    """The DC came back after a failover: its database fenced, both name servers acting as primaries."""
    (lab / "world/zj-dc-db1.json").write_text(json.dumps({**primary("zj-dc-db1"), "role": "down", "fenced": True}))
    (lab / "world/zj-dr-db1.json").write_text(
        json.dumps({**primary("zj-dr-db1", "none"), "mode": "async", "degraded": True})
    )
    acting(lab, "zj-dr-ops1", "primary")


# failback's calls, in order, after a failover whose flow cut left no record
FAILBACK = [
    "zj-dc-ops1 demote",
    "zj-dc-db1 follow",
    "zj-dr-db1 mode-sync",
    "zj-dr-db1 fence",
    "zj-dc-db1 promote",
    "zj-dc-ops1 promote",
    "zj-dc-ops1 records",
    "zj-dr-ops1 demote",
    "zj-dr-db1 follow",
]


def test_failback_rebuilds_the_business_site_and_switches_back(lab: Path) -> None:
    after_failover(lab)
    done = run(lab, "failback.yml", "confirm=yes")
    assert done.returncode == 0, done.stdout
    assert calls(lab) == FAILBACK


def test_failback_first_restores_the_flows_the_failover_cut_and_only_there(lab: Path) -> None:
    path = lab / "inv/testenv/hosts.yml"
    whole = path.read_text()
    lose(lab, "zj-dc-db1")
    assert run(lab, "failover.yml", "confirm=yes").returncode == 0
    fence = json.loads((lab / "state/fenced.json").read_text())
    assert fence["flows"] == {"address": "10.1.0.10", "port": 5432, "cut_on": ["zj-dr-fw1"]}
    assert (lab / "world/calls.log").read_text().splitlines()[0] == 'zj-dr-fw1 fence-flows ["10.1.0.10"]'
    (lab / "world/calls.log").write_text("")
    path.write_text(whole)  # the DC is back
    after_failover(lab)
    done = run(lab, "failback.yml", "confirm=yes")
    assert done.returncode == 0, done.stdout
    assert (lab / "world/calls.log").read_text().splitlines()[0] == "zj-dr-fw1 fence-flows []"
    assert calls(lab) == ["zj-dr-fw1 fence-flows", *FAILBACK]


# --- elect: both databases are standbys -----------------------------------------------------
def db_points(lab: Path, host: str, address: str) -> None:
    """What this name server answers for db (dig +short); other questions as the shared stand-in."""
    script = (
        '#!/bin/sh\ncase "$*" in *+short*) echo ' + address + " ;; *) echo ';; ->>HEADER<<- opcode: QUERY,"
        " status: NOERROR, id: 1' ;; esac\n"
    )
    write(lab / "hostbin" / host / "dig", script, 0o755)


def both_standbys(lab: Path, dc_lsn: str = "0/3000100", dr_lsn: str = "0/3000100") -> None:
    """After a power cut: the start guard brought both databases up read-only; db points to the DC."""
    (lab / "world/zj-dc-db1.json").write_text(json.dumps({**standby("zj-dc-db1", dc_lsn), "streaming": False}))
    (lab / "world/zj-dr-db1.json").write_text(json.dumps({**standby("zj-dr-db1", dr_lsn), "streaming": False}))
    for ns in ("zj-dc-ops1", "zj-dr-ops1"):
        db_points(lab, ns, "10.1.0.10")


def test_elect_promotes_the_standby_db_points_to_and_the_other_follows(lab: Path) -> None:
    both_standbys(lab)
    done = run(lab, "elect.yml", "confirm=yes")
    assert done.returncode == 0, done.stdout
    assert calls(lab) == ["zj-dc-db1 promote", "zj-dc-ops1 records", "zj-dr-db1 follow"]
    record = records(lab)[-1]
    assert record["what"] == "elect" and record["result"] == "succeeded"
    assert (record["details"]["primary"], record["details"]["standby"]) == ("zj-dc-db1", "zj-dr-db1")
    moved = (lab / "world/calls.log").read_text().splitlines()[1]
    assert json.loads(moved.split(" ", 2)[2]) == {"db": "10.1.0.10", "app": "10.1.0.11", "web": "10.1.0.12"}


def test_elect_is_refused_while_there_is_a_primary(lab: Path) -> None:
    done = run(lab, "elect.yml", "confirm=yes")
    assert done.returncode != 0
    assert "primary zj-dc-db1" in done.stdout and "nothing was changed" in done.stdout
    assert calls(lab) == []
    assert [r["result"] for r in records(lab)] == ["refused"]


def test_elect_is_refused_when_the_name_servers_disagree_or_one_is_silent(lab: Path) -> None:
    both_standbys(lab)
    db_points(lab, "zj-dr-ops1", "10.2.0.10")
    done = run(lab, "elect.yml", "confirm=yes")
    assert done.returncode != 0 and "db -> 10.1.0.10 / 10.2.0.10" in done.stdout
    lose(lab, "zj-dr-ops1")
    done = run(lab, "elect.yml", "confirm=yes")
    assert done.returncode != 0 and "name servers answering zj-dc-ops1 of zj-dc-ops1, zj-dr-ops1" in done.stdout
    assert calls(lab) == []


def test_elect_refuses_the_standby_with_older_wal_unless_asked_then_moves_the_names(lab: Path) -> None:
    both_standbys(lab, dr_lsn="0/3000200")
    done = run(lab, "elect.yml", "confirm=yes")
    assert done.returncode != 0
    assert "zj-dr-db1 has later WAL than zj-dc-db1" in done.stdout
    assert calls(lab) == []
    done = run(lab, "elect.yml", "confirm=yes", "primary=zj-dr-db1")
    assert done.returncode == 0, done.stdout
    assert calls(lab) == ["zj-dr-db1 promote", "zj-dc-ops1 records", "zj-dc-db1 follow"]
    moved = (lab / "world/calls.log").read_text().splitlines()[1]
    assert json.loads(moved.split(" ", 2)[2]) == {"db": "10.2.0.10", "app": "10.2.0.11", "web": "10.2.0.12"}


def test_elect_refuses_a_fenced_database_even_where_db_points(lab: Path) -> None:
    both_standbys(lab)
    fenced = json.loads((lab / "world/zj-dc-db1.json").read_text())
    (lab / "world/zj-dc-db1.json").write_text(json.dumps({**fenced, "fenced": True}))
    done = run(lab, "elect.yml", "confirm=yes")
    assert done.returncode != 0 and "zj-dc-db1 was fenced" in done.stdout
    assert calls(lab) == []


def test_a_failed_flow_cut_promotes_nothing(lab: Path) -> None:
    lose(lab, "zj-dc-db1")
    done = run(lab, "failover.yml", "confirm=yes", "stub_fail=zj-dr-fw1", "stub_fail_entry=fence-flows")
    assert done.returncode != 0
    assert calls(lab) == ["zj-dr-fw1 fence-flows"]
    record = records(lab)[-1]
    assert record["result"] == "failed" and record["details"]["failure"]["step"] == "flows_cut zj-dr-fw1"


def test_without_a_managed_firewall_the_failover_says_the_flows_are_cut_by_hand(lab: Path) -> None:
    path = lab / "inv/testenv/hosts.yml"
    inventory = yaml.safe_load(path.read_text())
    del inventory["all"]["children"]["firewalls"]
    path.write_text(yaml.safe_dump(inventory))
    lose(lab, "zj-dc-db1")
    done = run(lab, "failover.yml", "confirm=yes")
    assert done.returncode == 0, done.stdout
    assert "NO firewall of zj-dr is managed here" in done.stdout
    assert "NO managed firewall: cut its flows by hand" in done.stdout
    assert "fence-flows" not in " ".join(calls(lab))
    assert json.loads((lab / "state/fenced.json").read_text())["flows"]["cut_on"] == []
