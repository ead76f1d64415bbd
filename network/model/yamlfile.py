"""Reading the intent's YAML files, and the wording of what is wrong in them.

Errors are for the person at the console: the file, where in it, and what to do.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

from network.errors import ModelError, Problem

try:  # libyaml parses in C, but PyYAML still builds every value in Python
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]

try:  # builds the values in Rust too: ~15x faster on the national inventory's sites files
    import yaml_rs
except ImportError:  # pragma: no cover
    yaml_rs = None  # type: ignore[assignment]

# yaml_rs reads YAML 1.2, PyYAML (and Ansible, which reads the same files) YAML 1.1: `yes`, `on`,
# `010`, `1e3` or `12:30` mean different things. Every word or number that stands alone as a plain
# scalar (after `key: `, `"key":`, `- `, `[`, `{`, `,` or at a line's start, up to the end of the
# scalar) is checked against both; a text with one that differs, or with what yaml_rs is not asked
# to read (tags, anchors, merge and value keys, complex, empty and collection keys, directives,
# several documents, a timestamp with a space, line breaks other than \n, characters YAML 1.1 does
# not print), is read by PyYAML. So the result is always PyYAML's.
_SCALAR = re.compile(
    r"(?:^[ \t]*|[\[{,][ \t]*|:[ \t]+|[\"']:[ \t]*|-[ \t]+)"
    r"([-+.0-9][^\s,\[\]{}#]*|[A-Za-z~]{1,5})"
    r"(?=[ \t]*(?:$|[,\]}#]|:[ \t]|:$))",
    re.MULTILINE,
)
_PYYAML_ONLY = [  # each a cheap test first (a character the text must hold), then the pattern
    ("<", re.compile(r"<<")),  # merge keys
    ("!&*=?", re.compile(r"(?<![^\s\[{,:])(?:!|[&*](?=[^\s,\[\]{}])|[=?](?=[\s,\]}]|$))", re.MULTILINE)),  # tags...
    ("%", re.compile(r"^%", re.MULTILINE)),  # directives
    (":", re.compile(r"[\[{,\]}][ \t]*:(?=[ \t]|$)", re.MULTILINE)),  # an empty key, or a collection as one
    (":", re.compile(r"^[ \t]*:(?=[ \t]|$)", re.MULTILINE)),
    (":", re.compile(r"-[ \t]+:(?=[ \t]|$)", re.MULTILINE)),
    (":", re.compile(r":\d\d:")),  # a time of day, as in a timestamp (PyYAML reads it with its date)
    (None, re.compile(r"[^\x09\x0a\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")),
]
_DOCUMENT = re.compile(r"^(?:---|\.\.\.)(?=\s|$)", re.MULTILINE)  # past a leading `---`: another document
# a comment to the end of its line, where no quote follows; what it takes away from the check is never
# a plain scalar (a comment, or text inside a quoted or block scalar, which are strings in both)
_COMMENT = re.compile(r"(?:^|(?<=\s))#[^'\"\n]*$", re.MULTILINE)


def read_yaml(path: Path, label: str | None = None) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelError(Problem(str(path), "", "", f"cannot be read: {exc.strerror}")) from exc
    try:
        text: Any = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw  # PyYAML detects UTF-16, and words what it cannot read
    return parse_yaml(text, label or path.name)


@functools.lru_cache(maxsize=65_536)
def _same_in_both(scalar: str) -> bool:
    """Whether PyYAML and yaml_rs read this plain scalar alike (the type too: True is not 1)."""
    try:
        ours = yaml_rs.loads(f"- {scalar}", duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.LastWins)
        return repr(ours) == repr(yaml.load(f"- {scalar}", Loader=SafeLoader))
    except Exception:  # either refuses it: leave the text to PyYAML, which says why
        return False


def fast_parseable(text: str) -> bool:
    """Whether yaml_rs reads `text` exactly as PyYAML would (see _SCALAR)."""
    if yaml_rs is None:
        return False
    text = _COMMENT.sub("", text)
    body = text.lstrip()
    for needs, pattern in _PYYAML_ONLY:
        if (needs is None or any(c in text for c in needs)) and pattern.search(text):
            return False
    if _DOCUMENT.search(body[3:] if body.startswith("---") else body):
        return False
    return all(_same_in_both(scalar) for scalar in set(_SCALAR.findall(text)))


def load_text(text: str) -> Any:
    """YAML text parsed as PyYAML's safe loader parses it, by yaml_rs where that is the same."""
    if fast_parseable(text):
        try:
            return yaml_rs.loads(text, duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.LastWins)
        except Exception:  # PyYAML below refuses it too, and says where
            pass
    return yaml.load(text, Loader=SafeLoader)


def parse_yaml(stream: Any, label: str) -> Any:
    """YAML text (or an open file, or bytes), parsed; what is not YAML is a problem naming `label`
    and the line."""
    try:
        return load_text(stream) if isinstance(stream, str) else yaml.load(stream, Loader=SafeLoader)
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
