"""The application's reads and writes, each given an open transaction.

Idempotency: a write first claims its request_id in pension.requests (INSERT ... ON CONFLICT
DO NOTHING takes the row lock, so a concurrent twin waits for the first to commit). A claim
that already exists is answered from the stored response when the body is the same, refused
when it differs; a write that fails rolls its claim back with it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


class NotFound(Exception):
    """The person the request names is not enrolled (404)."""


class Conflict(Exception):
    """The write contradicts what is stored (409)."""


@dataclass(frozen=True)
class Outcome:
    body: dict[str, Any]
    replayed: bool


def fingerprint(endpoint: str, clean: dict[str, Any]) -> str:
    fields = {k: str(v) for k, v in clean.items() if k != "request_id"}
    return hashlib.sha256(json.dumps([endpoint, fields], sort_keys=True).encode()).hexdigest()


def _claim(conn: psycopg.Connection, endpoint: str, clean: dict[str, Any]) -> Outcome | None:
    """None when the request_id is new (and now ours); the stored outcome when it is a replay."""
    digest = fingerprint(endpoint, clean)
    claimed = conn.execute(
        "INSERT INTO pension.requests (request_id, endpoint, fingerprint) VALUES (%s, %s, %s)"
        " ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
        (clean["request_id"], endpoint, digest),
    ).fetchone()
    if claimed:
        return None
    stored = conn.execute(
        "SELECT fingerprint, response FROM pension.requests WHERE request_id = %s", (clean["request_id"],)
    ).fetchone()
    if stored is None or stored[0] != digest:
        raise Conflict(f"request_id {clean['request_id']} was already used for a different request")
    return Outcome(stored[1], replayed=True)


def _record(conn: psycopg.Connection, request_id: str, body: dict[str, Any]) -> Outcome:
    conn.execute("UPDATE pension.requests SET response = %s WHERE request_id = %s", (Jsonb(body), request_id))
    return Outcome(body, replayed=False)


def enroll(conn: psycopg.Connection, clean: dict[str, Any]) -> Outcome:
    replay = _claim(conn, "enrollments", clean)
    if replay:
        return replay
    person = conn.execute(
        "INSERT INTO pension.persons (id_number, name, township) VALUES (%s, %s, %s)"
        " ON CONFLICT (id_number) DO NOTHING RETURNING id",
        (clean["id_number"], clean["name"], clean["township"]),
    ).fetchone()
    if person is None:
        raise Conflict(f"the person {clean['id_number']} is already enrolled")
    row = conn.execute(
        "INSERT INTO pension.enrollments (person_id, enrolled_on) VALUES (%s, %s) RETURNING enrolled_on, status",
        (person[0], clean["date"]),
    ).fetchone()
    body = {
        "request_id": clean["request_id"],
        "person": {"id_number": clean["id_number"], "name": clean["name"], "township": clean["township"]},
        "enrollment": {"date": row[0].isoformat(), "status": row[1]},
    }
    return _record(conn, clean["request_id"], body)


def contribute(conn: psycopg.Connection, clean: dict[str, Any]) -> Outcome:
    replay = _claim(conn, "contributions", clean)
    if replay:
        return replay
    person = conn.execute(
        "SELECT p.id FROM pension.persons p JOIN pension.enrollments e ON e.person_id = p.id"
        " WHERE p.id_number = %s AND e.status = 'active'",
        (clean["id_number"],),
    ).fetchone()
    if person is None:
        raise NotFound(f"no enrolled person with id_number {clean['id_number']}")
    row = conn.execute(
        "INSERT INTO pension.contributions (person_id, year, grade, amount) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (person_id, year) DO NOTHING RETURNING created_at",
        (person[0], clean["year"], clean["grade"], clean["amount"]),
    ).fetchone()
    if row is None:
        raise Conflict(f"the person {clean['id_number']} already has a contribution for {clean['year']}")
    body = {
        "request_id": clean["request_id"],
        "contribution": {
            "id_number": clean["id_number"],
            "year": clean["year"],
            "grade": clean["grade"],
            "amount": str(clean["amount"]),
            "created_at": row[0].isoformat(),
        },
    }
    return _record(conn, clean["request_id"], body)


def person(conn: psycopg.Connection, id_number: str) -> dict[str, Any]:
    found = conn.execute(
        "SELECT p.id, p.name, p.township, e.enrolled_on, e.status FROM pension.persons p"
        " LEFT JOIN pension.enrollments e ON e.person_id = p.id WHERE p.id_number = %s",
        (id_number,),
    ).fetchone()
    if found is None:
        raise NotFound(f"no person with id_number {id_number}")
    rows = conn.execute(
        "SELECT year, grade, amount, created_at FROM pension.contributions WHERE person_id = %s ORDER BY year",
        (found[0],),
    ).fetchall()
    return {
        "person": {"id_number": id_number, "name": found[1], "township": found[2]},
        "enrollment": {"date": found[3].isoformat(), "status": found[4]} if found[3] else None,
        "contributions": [
            {"year": y, "grade": g, "amount": str(a), "created_at": c.isoformat()} for y, g, a, c in rows
        ],
    }


def database(conn: psycopg.Connection) -> dict[str, Any]:
    address, port, primary, name = conn.execute(
        "SELECT host(inet_server_addr()), inet_server_port(), NOT pg_is_in_recovery(), current_database()"
    ).fetchone()
    try:
        with conn.transaction():  # a savepoint: health still answers before the first migration
            schema = conn.execute("SELECT max(version) FROM pension.schema_migrations").fetchone()[0]
    except psycopg.errors.Error:
        schema = None
    return {"address": address, "port": port, "primary": primary, "database": name, "schema": schema}
