"""Reading the intent's YAML files, and the wording of what is wrong in them.

Errors are for the person at the console: the file, where in it, and what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from network.errors import ModelError, Problem

try:  # libyaml is ~10x faster; the national inventory needs it
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]


def read_yaml(path: Path, label: str | None = None) -> Any:
    try:
        with path.open("rb") as fh:
            return parse_yaml(fh, label or path.name)
    except OSError as exc:
        raise ModelError(Problem(str(path), "", "", f"cannot be read: {exc.strerror}")) from exc


def parse_yaml(stream: Any, label: str) -> Any:
    """YAML text or an open file, parsed; what is not YAML is a problem naming `label` and the line."""
    try:
        return yaml.load(stream, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise ModelError(Problem(label, where, "", f"is not valid YAML: {exc}")) from exc


def field_name(loc: tuple) -> str:
    """pydantic's error location as people write it: ('uplinks', 0, 'bandwidth') -> uplinks[0].bandwidth."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def say(err: dict) -> str:
    """pydantic's message for one error, worded for the console, with the value that was given."""
    message = err["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    value = err.get("input")
    if isinstance(value, str | int | float) and repr(value) not in message:
        message += f" (got {value!r})"
    return message
