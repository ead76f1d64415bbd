"""baseline alone: the level-3 management plane of a Linux node, as the audit's rules want it."""

import pytest

SYSNAME = "1.3.6.1.2.1.1.5.0"  # SNMPv2-MIB::sysName.0 (Debian ships no MIB files)
SNMP = "-v3 -l authPriv -u jinbao-nms -a SHA -A molecule-auth-key -x AES -X molecule-priv-key"


def address(host):
    return host.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"]["ansible_default_ipv4"]["address"]


def test_sshd_is_hardened_and_listens_on_its_address_only(host):
    config = host.check_output("sshd -T")
    hardened = ("permitrootlogin no", "passwordauthentication no", "permitemptypasswords no", "maxauthtries 5")
    for line in (*hardened, "banner /etc/issue.net"):
        assert line in config.splitlines()
    assert f"listenaddress {address(host)}:22" in config
    assert host.file("/etc/issue.net").contains("Authorised use only")


@pytest.mark.parametrize(("user", "admin"), [("netadmin", True), ("auditor", False)])
def test_named_accounts_for_people(host, user, admin):
    assert host.user(user).exists
    assert ("sudo" in host.user(user).groups) is admin
    assert host.user(user).password in ("!", "*", "!*")  # locked until its owner sets one


def test_failed_logins_lock_the_account(host):
    auth = host.file("/etc/pam.d/common-auth").content_string
    assert "pam_faillock.so preauth" in auth and "pam_faillock.so authfail" in auth
    assert auth.index("pam_faillock.so preauth") < auth.index("pam_unix.so") < auth.index("pam_faillock.so authfail")
    conf = host.file("/etc/security/faillock.conf")
    assert conf.contains("^deny = 5$") and conf.contains("^unlock_time = 900$")


@pytest.mark.parametrize("service", ["ssh", "rsyslog", "chrony", "snmpd", "nftables"])
def test_management_services_run(host, service):
    assert host.service(service).is_running or host.run(f"systemctl is-active {service}").stdout.strip() == "active"
    assert host.service(service).is_enabled


def test_logs_are_forwarded_and_time_comes_from_the_dc(host):
    assert host.file("/etc/rsyslog.d/90-jinbao-forward.conf").contains('target="127.0.0.1" port="514" protocol="tcp"')
    assert "127.0.0.1" in host.check_output("chronyc -n sources")
    assert not host.file("/etc/chrony/chrony.conf").contains("^pool ")


def test_the_resolver_asks_the_dcs_name_server(host):
    lines = [line for line in host.file("/etc/resolv.conf").content_string.splitlines() if not line.startswith("#")]
    assert lines == ["search zhejiang.lab.jinbao.internal", "nameserver 10.5.2.10", "options timeout:2 attempts:2"]
    assert host.run("findmnt /etc/resolv.conf").rc == 0  # written in place: still Docker's mount


def test_snmp_answers_v3_authpriv_only(host):
    ip = address(host)
    assert "STRING" in host.check_output(f"snmpget {SNMP} -t 2 -r 0 {ip} {SYSNAME}")
    assert host.run(f"snmpget -v2c -c public -t 1 -r 0 {ip} {SYSNAME}").rc != 0
    wrong = SNMP.replace("molecule-auth-key", "not-the-auth-key")
    assert host.run(f"snmpget {wrong} -t 1 -r 0 {ip} {SYSNAME}").rc != 0


def test_management_acl_is_loaded(host):
    table = host.check_output("nft list table inet jinbao_mgmt")
    assert "tcp dport 22 ip saddr !=" in table and "udp dport 161 ip saddr !=" in table


# Operators by certificate: the converge trusts a CA made in the container (/root/molecule-ca)
# and revokes the key id revoked.person; this host (group servers) admits sysops and auditor.
CA = "/root/molecule-ca"
SSH = "ssh -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def login(host, user, key_id="alice", principals="sysops", validity="-5m:+1h", signed=True, command="id -un"):
    """A fresh key, signed by the test CA when `signed`, logging in to the node's own address."""
    directory = host.check_output("mktemp -d")
    host.check_output(f"ssh-keygen -q -t ed25519 -N '' -f {directory}/key")
    if signed:
        serial = abs(hash((key_id, principals, validity))) % 100000
        host.check_output(
            f"ssh-keygen -q -s {CA} -I {key_id} -n {principals} -V {validity} -z {serial} {directory}/key.pub"
        )
    return host.run(f"{SSH} -i {directory}/key {user}@{address(host)} {command}")


def test_sshd_trusts_the_ca_with_principals_and_a_revocation_list(host):
    config = host.check_output("sshd -T").splitlines()
    assert "trustedusercakeys /etc/ssh/jinbao_user_ca.pub" in config
    assert "authorizedprincipalsfile /etc/ssh/principals/%u" in config
    assert "revokedkeys /etc/ssh/jinbao_revoked.krl" in config
    assert host.file("/etc/ssh/principals/sysops").content_string == "sysops\n"
    assert not host.file("/etc/ssh/principals/dba").exists  # not a database host
    assert "revoked.person" in host.check_output("ssh-keygen -Q -l -f /etc/ssh/jinbao_revoked.krl")


def test_a_certificate_with_the_accounts_principal_logs_in_and_is_logged_by_key_id(host):
    done = login(host, "sysops", key_id="alice.admin", command="'id -un; sudo -n true && echo root'")
    assert done.rc == 0, done.stderr
    assert done.stdout.split() == ["sysops", "root"]
    assert "ID alice.admin (serial" in host.check_output("grep 'Accepted publickey for sysops' /var/log/auth.log")


def test_an_auditor_logs_in_but_may_not_become_root(host):
    done = login(host, "auditor", key_id="bob.audit", principals="auditor", command="'id -Gn; sudo -n true'")
    assert done.rc != 0 and "adm" in done.stdout.split()
    assert "sudo" in done.stderr or "password" in done.stderr


@pytest.mark.parametrize(
    ("case", "user", "arguments"),
    [
        ("no certificate", "sysops", {"signed": False}),
        ("expired", "sysops", {"validity": "-2h:-1h"}),
        ("revoked", "sysops", {"key_id": "revoked.person"}),
        ("another role's principal", "sysops", {"principals": "auditor"}),
        ("a role this host does not admit", "dba", {"principals": "dba"}),
    ],
)
def test_a_login_is_refused(host, case, user, arguments):
    done = login(host, user, **arguments)
    assert done.rc == 255 and "Permission denied" in done.stderr, (case, done.stdout, done.stderr)


# --- the node's own level-3 rules (jinbao_hardening) ----------------------------------
def test_a_short_or_plain_password_is_refused_root_included(host):
    for weak in ("Short1!", "alllowercaseletters"):
        refused = host.run(f"echo 'auditor:{weak}' | chpasswd")
        assert refused.rc != 0 and "BAD PASSWORD" in refused.stderr + refused.stdout, weak
    strong = host.run("echo 'auditor:Ok-Strong-Passw0rd-2026' | chpasswd")
    assert strong.rc == 0, strong.stderr
    host.run("usermod -p '!' auditor")  # back to locked: no password until its owner sets one


def test_logins_get_the_level3_umask(host):
    assert host.file("/etc/login.defs").contains("^UMASK\t\t027$")
    # su -l runs the login session stack (common-session: pam_umask), as sshd does
    assert host.check_output("su -l auditor -s /bin/sh -c umask").strip() == "0027"


def test_the_network_sysctls_are_written_for_boot(host):
    conf = host.file("/etc/sysctl.d/60-jinbao-level3.conf").content_string
    assert "net.ipv4.conf.all.accept_redirects = 0" in conf and "net.ipv4.tcp_syncookies = 1" in conf


def test_an_installed_unit_the_hardening_never_runs_is_masked_and_not_listening(host):
    assert host.run("systemctl is-enabled telnet.socket").stdout.strip() == "masked"
    assert ":2323 " not in host.check_output("ss -Hltn")


def test_the_audit_rules_are_written_and_auditd_left_off_in_a_container(host):
    rules = host.file("/etc/audit/rules.d/50-jinbao-level3.rules")
    assert rules.mode == 0o640
    for line in (
        "-w /etc/passwd -p wa -k identity",
        "-w /etc/sudoers -p wa -k sudoers",
        "-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k modules",
    ):
        assert rules.contains(f"^{line}$"), line
    assert host.run("systemctl is-active auditd").stdout.strip() != "active"  # baseline_audit_kernel: false


def test_the_banner_is_on_the_console_too(host):
    assert host.file("/etc/issue").contains("Authorised use only")
