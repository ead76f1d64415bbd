"""Management-plane policy shared by rendered configs and Ansible roles.

It lives in ``inventories/<env>/group_vars/all/*.yml`` as ``jinbao_*`` variables, so
playbooks read the very same facts; secrets live in ``group_vars/all/vault.yml``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from network.model.capacity import CapacityRule
from network.model.schema import Strict

PREFIX = "jinbao_"


class AdminUser(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    # level-3 protection separates duties: admins change, auditors only read
    role: Literal["admin", "auditor"]


class Snmp(Strict):
    user: str = Field(default="jinbao-nms", min_length=1)
    group: str = Field(default="jinbao-ro", min_length=1)


class LoginLockout(Strict):
    attempts: int = Field(default=5, ge=1, le=10)
    block_minutes: int = Field(default=15, ge=1)


class PasswordQuality(Strict):
    """pam_pwquality's floor for every local password (root's too), and how old one may grow."""

    min_length: int = Field(default=12, ge=8, le=64)
    min_classes: int = Field(default=3, ge=2, le=4)  # of lower case, upper case, digits, others
    max_repeat: int = Field(default=3, ge=1, le=8)  # the same character in a row at most
    max_age_days: int = Field(default=90, ge=1, le=365)  # rotate-passwords.yml, flagged by the audit after


class HostHardening(Strict):
    """Level-3 rules of a Linux node's own (GB/T 22239-2019 8.1.4): the baseline applies them,
    the audit checks them (network/rules/level3.yml), the lab creates its nodes with the sysctls."""

    password: PasswordQuality = PasswordQuality()
    umask: str = Field(default="027", pattern=r"^0[0-7]{2}$")
    # a TLS certificate on a host (/etc/jinbao/tls, /etc/nginx/tls) this close to its end is a finding
    certificate_warn_days: int = Field(default=30, ge=1, le=365)
    # network hardening: per network namespace, so the lab sets them at container creation
    sysctls: dict[str, int] = Field(
        default_factory=lambda: {
            "net.ipv4.conf.all.accept_redirects": 0,
            "net.ipv4.conf.default.accept_redirects": 0,
            "net.ipv4.conf.all.secure_redirects": 0,
            "net.ipv4.conf.default.secure_redirects": 0,
            "net.ipv4.conf.all.send_redirects": 0,
            "net.ipv4.conf.default.send_redirects": 0,
            "net.ipv4.conf.all.accept_source_route": 0,
            "net.ipv4.conf.default.accept_source_route": 0,
            "net.ipv4.conf.all.log_martians": 1,
            "net.ipv4.icmp_echo_ignore_broadcasts": 1,
            "net.ipv4.icmp_ignore_bogus_error_responses": 1,
            "net.ipv4.tcp_syncookies": 1,
        }
    )
    # units a node never runs (stopped, disabled and masked where installed)
    disabled_services: tuple[str, ...] = (
        "avahi-daemon.service",
        "cups.service",
        "rpcbind.service",
        "rpcbind.socket",
        "nfs-server.service",
        "vsftpd.service",
        "tftpd-hpa.service",
        "inetutils-inetd.service",
        "openbsd-inetd.service",
        "xinetd.service",
        "telnet.socket",
    )

    @field_validator("sysctls")
    @classmethod
    def _net_only(cls, values: dict[str, int]) -> dict[str, int]:
        bad = [k for k in values if not re.fullmatch(r"net\.(ipv4|ipv6|core)\.[a-z0-9_.]+", k)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: only net.ipv4/ipv6/core keys (a network namespace's own)")
        return values

    @field_validator("disabled_services")
    @classmethod
    def _units(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9@_.-]+\.(service|socket)", n)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: a systemd unit is <name>.service or <name>.socket")
        return names


class AccessPrincipal(Strict):
    """An operator role (docs/access.md): an account of its name on the hosts of the
    Ansible groups it lists, admitting SSH certificates that carry its principal."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    hosts: tuple[str, ...] = Field(min_length=1)
    sudo: bool = False
    groups: tuple[str, ...] = ()


class Revocation(Strict):
    """A revoked SSH certificate: one by serial, or every one issued under a key id."""

    serial: int | None = Field(default=None, ge=0)
    key_id: str | None = Field(default=None, min_length=1)
    reason: str = Field(min_length=1)
    by: str = Field(min_length=1)
    date: dt.date | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Revocation:
        if (self.serial is None) == (self.key_id is None):
            raise ValueError("name exactly one of serial (one certificate) or key_id (all of a holder's)")
        return self


class Settings(Strict):
    domain: str = "jinbao.internal"
    banner: str = "Authorised use only. All activity is logged and audited."
    idle_timeout_minutes: int = Field(default=10, ge=1, le=30)
    admin_users: tuple[AdminUser, ...] = (AdminUser(name="netadmin", role="admin"),)
    snmp: Snmp = Snmp()
    login_lockout: LoginLockout = LoginLockout()
    host_hardening: HostHardening = HostHardening()
    bgp_asn_base: int = Field(default=4_200_000_000, ge=4_200_000_000, le=4_294_967_294)
    ospf_reference_kbps: int = Field(default=10_000_000, gt=0)  # 10G costs 1
    backup_line_cost: int = Field(default=65_000, ge=1, le=65_535)
    timezone: str = "Asia/Shanghai"
    capacity: CapacityRule = CapacityRule()  # line sizing (network/model/capacity.py, docs/capacity.md)
    # Zones reached only through the gatekeeper (the internet-facing declaration DMZ): the WAN
    # never routes to them, so no router gets an interface in them.
    unrouted_zones: tuple[str, ...] = ("dmz",)
    # The business system (docs/business.md): the DC that runs it, its service names (a DNS
    # zone per province: the playbooks and the application use names, never addresses), its
    # database and the named maintenance accounts, the middleware's port, backup retention.
    business_site: str | None = None
    service_zone: str = "{{ jinbao_province }}.{{ jinbao_domain }}"
    service_names: dict[Literal["db", "app", "web"], str] = Field(
        default_factory=lambda: {"db": "database", "app": "middleware", "web": "web"}
    )
    db_name: str = Field(default="pension", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    db_maintainers: tuple[str, ...] = ()
    app_port: int = Field(default=7001, ge=1, le=65_535)
    # the middleware serves TLS (a certificate from the CA) and the web tier verifies it
    app_tls: bool = False
    backup_retention_full: int = Field(default=2, ge=1, le=52)
    # the DR pair's replication (group_vars dr.yml, docs/dr.md): sync waits for the DR standby
    dr_mode: Literal["sync", "async"] = "sync"
    # operator access (group_vars access.yml and revocations.yml, docs/access.md)
    access_ssh_ca_public_key: str = Field(
        default="", pattern=r"^$|^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/]{40,}=*( .*)?$"
    )
    access_principals: tuple[AccessPrincipal, ...] = ()
    access_automation_principal: str = Field(default="automation", pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    access_automation_days: int = Field(default=7, ge=2, le=30)
    access_certificate_hours: int = Field(default=8, ge=1, le=24)
    access_revoked: tuple[Revocation, ...] = ()
    # TLS from the same CA: its certificate (PEM; empty: the services keep self-signed ones), a
    # service certificate's life and the days before its end a converge renews it, and the web
    # roles of clerks, which a client certificate may carry besides the operator roles (OU=<role>)
    access_tls_ca_certificate: str = Field(
        default="", pattern=r"^$|^\s*-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\s*$"
    )
    access_tls_server_days: int = Field(default=365, ge=2, le=825)
    access_tls_renew_days: int = Field(default=30, ge=1)
    access_clerk_roles: tuple[str, ...] = ()
    # logs to the DC's collector over TLS (RFC 5425, port 6514; the collector's certificate from
    # the CA): read by the baseline (every node) and ops_server (the collector) alike
    syslog_tls: bool = False
    # where Debian packages come from (group_vars offline.yml): the lab's image builds
    # (debootstrap, then apt-get in the Dockerfiles); an air-gapped site names its own mirror
    debian_mirror: str = Field(default="http://deb.debian.org/debian", pattern=r"^(https?|file)://\S+[^/]$")

    @model_validator(mode="after")
    def _distinct_principals(self) -> Settings:
        names = [p.name for p in self.access_principals] + [self.access_automation_principal]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"access_principals: {', '.join(twice)} named twice (the automation principal included)")
        operators = {p.name for p in self.access_principals}
        both = sorted(operators & set(self.access_clerk_roles))
        if both:
            raise ValueError(f"access_clerk_roles: {', '.join(both)} is an operator role too (access_principals)")
        bad = [r for r in self.access_clerk_roles if not re.fullmatch(r"[a-z][a-z0-9_-]{1,31}", r)]
        if bad:
            raise ValueError(f"access_clerk_roles: {', '.join(bad)}: a role is [a-z][a-z0-9_-] (it is OU=<role>)")
        return self

    @model_validator(mode="after")
    def _app_tls_has_a_ca(self) -> Settings:
        if self.app_tls and not self.access_tls_ca_certificate:
            raise ValueError("app_tls: the middleware's certificate comes from the CA; set access_tls_ca_certificate")
        return self

    @model_validator(mode="after")
    def _syslog_tls_has_a_ca(self) -> Settings:
        if self.syslog_tls and not self.access_tls_ca_certificate:
            raise ValueError("syslog_tls: the collector's certificate comes from the CA; set access_tls_ca_certificate")
        return self

    @model_validator(mode="after")
    def _renewed_before_expiry(self) -> Settings:
        if self.access_tls_renew_days >= self.access_tls_server_days:
            raise ValueError(
                f"access_tls_renew_days ({self.access_tls_renew_days}) must be below access_tls_server_days "
                f"({self.access_tls_server_days}): otherwise every converge renews every certificate"
            )
        return self

    @field_validator("db_maintainers")
    @classmethod
    def _accounts(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        bad = [n for n in names if not re.fullmatch(r"[a-z][a-z0-9_]{1,62}", n)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: a PostgreSQL account is [a-z][a-z0-9_]")
        return names


def settings_from_vars(variables: dict) -> dict:
    """The jinbao_* group variables, with the prefix dropped, ready for Settings."""
    return {key[len(PREFIX) :]: value for key, value in variables.items() if key.startswith(PREFIX)}
