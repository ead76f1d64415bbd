"""Password rotation on the lab (playbooks/rotate-passwords.yml, docs/access.md "Rotating
passwords"): the application's and the replication account's passwords change in the vault and
everywhere they are used; the new ones log in, the old ones are refused, the application keeps
answering and the standby keeps streaming. Refusals change nothing.

The module leaves the lab as it found it: vault.yml and rotations.yml get their bytes back and
the playbook pushes the vault's (old) passwords again (`-e push_vault=true`), which must then
log in.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_business import Clerk, _host_named, _zone_of

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = "playbooks/rotate-passwords.yml"
ACCOUNTS = ("pension_app", "replicator")
REFUSED = "password authentication failed"


def _vault(lab) -> dict:
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-vault"), "view", str(lab.env / "group_vars" / "all" / "vault.yml")],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return yaml.safe_load(shown.stdout)


def _login(lab, client: str, account: str, password: str, database: str = "pension"):
    """psql as `account` to the DC's database, from `client` (where pg_hba admits the account)."""
    env = f"PGPASSWORD={shlex.quote(password)} PGSSLMODE=require PGCONNECT_TIMEOUT=5"
    return lab.host(client).run(f"{env} psql -X -h db.{_zone_of(lab)} -U {account} -d {database} -Atc 'select 1'")


def _streaming(lab) -> list[str]:
    primary = lab.host(_host_named(lab, "database"))
    sql = "select state from pg_stat_replication where usename = 'replicator'"
    found = primary.run(f"sudo -u postgres psql -Atc {shlex.quote(sql)}")
    return found.stdout.split()


@pytest.fixture(scope="module")
def rotation(lab):
    """Rotate ACCOUNTS once; afterwards put the vault, the record and the old passwords back."""
    vault, record = lab.env / "group_vars" / "all" / "vault.yml", lab.env / "rotations.yml"
    saved_vault, saved_record = vault.read_bytes(), record.read_bytes()
    before = _vault(lab)
    try:
        run = lab.ansible(PLAYBOOK, "-e", f"accounts={','.join(ACCOUNTS)}")
        yield run, before, _vault(lab)
    finally:
        vault.write_bytes(saved_vault)
        record.write_bytes(saved_record)
        back = lab.ansible(PLAYBOOK, "-e", f"accounts={','.join(ACCOUNTS)}", "-e", "push_vault=true")
        assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-2000:]
        old = before["vault_jinbao_db_passwords"]
        assert _login(lab, _host_named(lab, "middleware"), "pension_app", old["pension_app"]).rc == 0
        assert _streaming(lab) == ["streaming"]


def test_the_rotation_changes_only_its_accounts_in_the_vault_and_records_them_without_secrets(lab, rotation):
    run, before, after = rotation
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    old, new = before["vault_jinbao_db_passwords"], after["vault_jinbao_db_passwords"]
    assert all(new[a] != old[a] and len(new[a]) >= 24 for a in ACCOUNTS)
    assert {k: v for k, v in new.items() if k not in ACCOUNTS} == {k: v for k, v in old.items() if k not in ACCOUNTS}
    assert {k: v for k, v in after.items() if k != "vault_jinbao_db_passwords"} == {
        k: v for k, v in before.items() if k != "vault_jinbao_db_passwords"
    }
    vault_text = (lab.env / "group_vars" / "all" / "vault.yml").read_text()
    assert vault_text.startswith("$ANSIBLE_VAULT") and not any(new[a] in vault_text for a in ACCOUNTS)
    record = (lab.env / "rotations.yml").read_text()
    assert not any(p in record for p in [*old.values(), *new.values()])
    entries = yaml.safe_load(record)["accounts"]
    assert all(entries[a]["how"] == PLAYBOOK and entries[a]["group"] == "db" for a in ACCOUNTS)
    assert not list(Path("/tmp").glob("jinbao-vault-*")), "a decrypted or staged vault was left behind"


def test_the_new_application_password_logs_in_and_the_old_one_is_refused(lab, rotation):
    _, before, after = rotation
    app = _host_named(lab, "middleware")
    accepted = _login(lab, app, "pension_app", after["vault_jinbao_db_passwords"]["pension_app"])
    assert accepted.rc == 0 and accepted.stdout.strip() == "1", accepted.stderr
    refused = _login(lab, app, "pension_app", before["vault_jinbao_db_passwords"]["pension_app"])
    assert refused.rc != 0 and REFUSED in refused.stderr, refused.stderr


def test_the_new_replication_password_logs_in_the_old_one_is_refused_and_the_standby_streams(lab, rotation):
    _, before, after = rotation
    standby = _host_named(lab, "database", "zj-dr")
    accepted = _login(lab, standby, "replicator", after["vault_jinbao_db_passwords"]["replicator"], "postgres")
    assert accepted.rc == 0, accepted.stderr
    refused = _login(lab, standby, "replicator", before["vault_jinbao_db_passwords"]["replicator"], "postgres")
    assert refused.rc != 0 and REFUSED in refused.stderr, refused.stderr
    assert _streaming(lab) == ["streaming"]


def test_the_application_keeps_serving_through_the_web_tier(lab, rotation):
    status, _, health = Clerk(lab).request("GET", "/health")
    assert status == 200 and health["database"]["primary"] is True, health
    app = lab.host(_host_named(lab, "middleware", "zj-dr"))
    assert app.run("systemctl is-active pension-app").stdout.strip() == "active"


@pytest.mark.parametrize(
    ("accounts", "said"),
    [("pension_app,nobody", "nobody: no such account"), ("netadmin", "cannot be rotated by this playbook")],
    ids=["unknown", "device"],
)
def test_a_refused_account_changes_nothing(lab, accounts, said):
    vault = lab.env / "group_vars" / "all" / "vault.yml"
    before = vault.read_bytes()
    run = lab.ansible(PLAYBOOK, "-e", f"accounts={accounts}")
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0 and said in output and "Nothing was changed" in output, output[-2000:]
    assert vault.read_bytes() == before
