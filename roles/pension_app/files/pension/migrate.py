"""Apply the schema's migrations: `python3 -m pension.migrate [--config FILE] [--grant-to ACCOUNT]`.

Runs as the schema's owner: PENSION_DB_USER and PENSION_DB_PASSWORD (the environment, so the
owner's password is in no file on the host) replace the application's account of the
configuration file. Each migration (migrations/NNNN_*.sql, in order) runs in its own
transaction with its row in pension.schema_migrations; an advisory lock keeps two hosts from
migrating, or granting, at once. Prints `applied NNNN_name` per migration applied, `up to date (NNNN)` when
there was none; the pension_app role's changed_when reads that. --grant-to gives the
application's account its rights on the schema's tables every run (the database's default
privileges should already have; this makes it so either way)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from pension import config

MIGRATIONS = Path(__file__).with_name("migrations")
LOCK = 7_001_015  # pg_advisory_xact_lock key of the pension schema's migrations

TRACKING = """
CREATE TABLE IF NOT EXISTS pension.schema_migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""

GRANTS = [
    "GRANT USAGE ON SCHEMA pension TO {account}",
    "GRANT SELECT, INSERT, UPDATE ON pension.persons, pension.enrollments, pension.contributions,"
    " pension.requests TO {account}",
    "GRANT SELECT ON pension.schema_migrations TO {account}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA pension TO {account}",
]


def pending(conn: psycopg.Connection) -> list[Path]:
    done = {row[0] for row in conn.execute("SELECT version FROM pension.schema_migrations")}
    return [p for p in sorted(MIGRATIONS.glob("*.sql")) if p.name.split("_", 1)[0] not in done]


def apply(conn: psycopg.Connection) -> list[str]:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        conn.execute(TRACKING)
    applied = []
    for path in pending(conn):
        version, name = path.stem.split("_", 1)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
            if conn.execute("SELECT 1 FROM pension.schema_migrations WHERE version = %s", (version,)).fetchone():
                continue  # another host applied it while we waited for the lock
            conn.execute(path.read_text(encoding="utf-8"))
            conn.execute("INSERT INTO pension.schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        applied.append(path.stem)
        print(f"applied {path.stem}", flush=True)
    return applied


def grant(conn: psycopg.Connection, account: str) -> None:
    with conn.transaction():
        # two GRANTs at once on the same catalog rows fail ("tuple concurrently updated")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        for statement in GRANTS:
            conn.execute(sql.SQL(statement).format(account=sql.Identifier(account)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m pension.migrate", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help=f"configuration file (default {config.DEFAULT_PATH})")
    parser.add_argument("--grant-to", default="", help="the application's database account")
    args = parser.parse_args(argv)
    settings = config.load(
        args.config, user=os.environ.get("PENSION_DB_USER"), password=os.environ.get("PENSION_DB_PASSWORD")
    )
    try:
        with psycopg.connect(**settings.conninfo()) as conn:
            applied = apply(conn)
            if args.grant_to:
                grant(conn, args.grant_to)
            if not applied:
                latest = conn.execute("SELECT max(version) FROM pension.schema_migrations").fetchone()[0]
                print(f"up to date ({latest})")
    except psycopg.Error as exc:
        print(f"pension.migrate: {settings.describe()}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
