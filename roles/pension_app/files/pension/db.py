"""The database behind the application: a small pool per worker, every unit of work in one
transaction, retried with backoff when the connection fails, all attempts bounded together.

The server is reached by its service name (db.<zone>); libpq resolves it on every new
connection, so when DR moves the name, broken connections are dropped and the next attempt
reaches the new primary. `target_session_attrs=read-write` (the default) refuses a standby."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from pension.config import Settings

T = TypeVar("T")
log = logging.getLogger("pension.db")


class Unavailable(Exception):
    """The database could not be reached (or was not a primary) within the bound."""


class Database:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.pool = ConnectionPool(
            kwargs=settings.conninfo(),
            min_size=1,
            max_size=settings.pool_size,
            timeout=settings.deadline,
            max_lifetime=600,
            max_idle=300,
            reconnect_timeout=max(settings.deadline, 30),
            name="pension",
            open=False,
        )
        self.pool.open(wait=False)

    def run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """Run `work(conn)` in one transaction; retry on a failed connection until the bound."""
        settings = self.settings
        deadline = time.monotonic() + settings.deadline
        delay = settings.backoff
        for attempt in range(1, settings.attempts + 1):
            left = deadline - time.monotonic()
            try:
                with self.pool.connection(timeout=max(left, 0.1)) as conn, conn.transaction():
                    return work(conn)
            except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction, PoolTimeout) as exc:
                reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                if attempt == settings.attempts or time.monotonic() + delay >= deadline:
                    log.error("database %s unavailable after %d attempt(s): %s", settings.describe(), attempt, reason)
                    raise Unavailable(reason) from exc
                log.warning("database attempt %d failed (%s), again in %.1fs", attempt, reason, delay)
                time.sleep(delay)
                delay *= 2
        raise Unavailable("no attempts configured")

    def close(self) -> None:
        self.pool.close()
