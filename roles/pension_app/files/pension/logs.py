"""Logging to the host's syslog (/dev/log, ident pension-app), which the baseline forwards to
the DC's collector; without /dev/log (a bare container) to stderr, which systemd journals."""

from __future__ import annotations

import logging
import logging.handlers
import socket

IDENT = "pension-app"


def setup(level: int = logging.INFO) -> logging.Logger:
    logger = logging.getLogger("pension")
    if logger.handlers:  # one set of handlers per process, however often the app is made
        return logger
    try:
        handler: logging.Handler = logging.handlers.SysLogHandler(
            address="/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON, socktype=socket.SOCK_DGRAM
        )
        handler.ident = f"{IDENT}: "
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    except OSError:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"{IDENT}: %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def masked(id_number: str) -> str:
    """A resident ID as logs show it: region and check digit, not the birth date and sequence."""
    return id_number[:6] + "*" * 8 + id_number[-4:] if len(id_number) == 18 else "*" * len(id_number)
