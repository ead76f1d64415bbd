"""Settings from /etc/pension-app/pension-app.conf (INI), written by the pension_app role.

The password is read here and handed to libpq; it is never logged: `describe` shows a
connection without it."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass

DEFAULT_PATH = "/etc/pension-app/pension-app.conf"


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    name: str
    user: str
    password: str
    sslmode: str
    sslrootcert: str
    target_session_attrs: str
    connect_timeout: int  # seconds, one connection attempt (libpq)
    attempts: int  # connection attempts per request before it is answered 503
    backoff: float  # seconds before the second attempt, doubling after
    deadline: float  # seconds, the bound on all attempts of one request together
    statement_timeout_ms: int
    pool_size: int

    def conninfo(self) -> dict[str, str | int]:
        """libpq parameters (the password included: give these to libpq only, never to a log)."""
        params: dict[str, str | int] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.name,
            "user": self.user,
            "password": self.password,
            "sslmode": self.sslmode,
            "connect_timeout": self.connect_timeout,
            "target_session_attrs": self.target_session_attrs,
            "application_name": "pension-app",
            "options": f"-c statement_timeout={self.statement_timeout_ms}",
        }
        if self.sslrootcert:
            params["sslrootcert"] = self.sslrootcert
        return params

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.name} (sslmode={self.sslmode})"


def load(path: str | None = None, user: str | None = None, password: str | None = None) -> Settings:
    """Read the file; `user` and `password` replace the file's (the migrations run as the schema's owner)."""
    path = path or os.environ.get("PENSION_APP_CONFIG", DEFAULT_PATH)
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(path, encoding="utf-8"):
        raise SystemExit(f"pension-app: cannot read its configuration {path}")
    db = parser["database"]
    return Settings(
        host=db["host"],
        port=db.getint("port", 5432),
        name=db["name"],
        user=user or db["user"],
        password=password if password is not None else db.get("password", ""),
        sslmode=db.get("sslmode", "require"),
        sslrootcert=db.get("sslrootcert", ""),
        target_session_attrs=db.get("target_session_attrs", "read-write"),
        connect_timeout=db.getint("connect_timeout", 3),
        attempts=db.getint("attempts", 3),
        backoff=db.getfloat("backoff", 0.5),
        deadline=db.getfloat("deadline", 10.0),
        statement_timeout_ms=db.getint("statement_timeout_ms", 5000),
        pool_size=db.getint("pool_size", 4),
    )
