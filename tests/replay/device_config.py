"""A replayed device's configuration, held the way the device holds it.

A tree of lines (a view's lines are its children) printed in the device's own order: a
VRP or Comware device prints `display current-configuration` in a fixed order per
command, not in the order lines were typed, so a line that is removed and typed again
comes back where it was. Lines typed in a configuration session change the tree as the
device would (the rules are data, in the session file):

- `undo X` removes the line X (or X's longer form, `undo ospf cost` removes `ospf cost 100`)
  and, with it, the view X opened; a command the device prints when it is off
  (``shown_undone``) is shown as `undo X` instead;
- `X` replaces a shown `undo X`; a command that holds one value (``single_value``, e.g.
  `ip address`, `description`; or one per key, ``keyed_value``, e.g. VRP's `local-user X
  password ...` per account) replaces its previous value; a command that opens a view
  (``views``) enters it, creating it when new; `quit` goes up a view, `return` to the
  user view.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field


@dataclass
class Node:
    line: str
    rank: float
    children: list[Node] = field(default_factory=list)


class Config:
    def __init__(self, text: str):
        self.root = Node("", 0.0)
        self.final_newline = text.endswith("\n")
        self._removed: dict[tuple[str, ...], float] = {}  # where a removed line printed
        stack = [(-1, self.root)]
        for rank, raw in enumerate(text.splitlines(), start=1):
            depth = len(raw) - len(raw.lstrip(" "))
            while stack[-1][0] >= depth:
                stack.pop()
            node = Node(raw.strip(), float(rank))
            stack[-1][1].children.append(node)
            stack.append((depth, node))

    def copy(self) -> Config:
        return copy.deepcopy(self)

    def text(self) -> str:
        lines: list[str] = []

        def walk(node: Node, depth: int) -> None:
            for child in node.children:
                lines.append(" " * depth + child.line)
                walk(child, depth + 1)

        walk(self.root, 0)
        return "\n".join(lines) + ("\n" if self.final_newline else "")

    # --- changes, as typed in a view ------------------------------------------------
    def resolve(self, view: tuple[str, ...]) -> list[Node]:
        """The nodes of a view, from the root; a view that no longer exists is created."""
        path = [self.root]
        for line in view:
            path.append(self.find(path, line) or self.add(path, line))
        return path

    def find(self, path: list[Node], line: str) -> Node | None:
        return next((c for c in path[-1].children if c.line == line), None)

    def remove(self, path: list[Node], node: Node) -> None:
        self._removed[self._key(path, node.line)] = node.rank
        path[-1].children.remove(node)

    def add(self, path: list[Node], line: str, rank: float | None = None) -> Node:
        found = self.find(path, line)
        if found is not None:
            return found
        siblings = path[-1].children
        rank = self._removed.pop(self._key(path, line), rank)
        if rank is None:  # new to this device: printed last in its view (before the final `return`)
            body = [c for c in siblings if not (len(path) == 1 and c.line == "return")]
            last = body[-1].rank if body else path[-1].rank
            later = [c.rank for c in siblings if c.rank > last]
            rank = (last + min(later)) / 2 if later else last + 1.0
        node = Node(line, rank)
        siblings.append(node)
        siblings.sort(key=lambda c: c.rank)
        return node

    def _key(self, path: list[Node], line: str) -> tuple[str, ...]:
        return (*(n.line for n in path[1:]), line)


@dataclass(frozen=True)
class Grammar:
    """What the device knows about its configuration commands (session file: `grammar`)."""

    views: dict[str, list[str]]  # a view's line pattern ('' = system view) → commands that open a view in it
    single_value: list[str]  # command prefixes that hold one value per view
    shown_undone: list[str]  # commands the device prints as `undo X` when they are off
    keyed_value: list[str] = field(default_factory=list)  # regexes: what a match covers holds one value

    @classmethod
    def from_session(cls, session: dict) -> Grammar:
        grammar = session.get("grammar", {})
        return cls(
            grammar.get("views", {}),
            grammar.get("single_value", []),
            grammar.get("shown_undone", []),
            grammar.get("keyed_value", []),
        )

    def opens_view(self, path: list[Node], command: str) -> bool:
        here = path[-1].line
        for view, commands in self.views.items():
            in_view = (view == "" and len(path) == 1) or (view and re.fullmatch(view, here))
            if in_view and any(re.fullmatch(c, command) for c in commands):
                return True
        return False


def type_line(config: Config, grammar: Grammar, view: tuple[str, ...], command: str) -> tuple[str, ...]:
    """One configuration command typed in `view` (the lines that opened it, () = system view);
    returns the view the device is in after it."""
    if command == "quit":
        return view[:-1]
    path = config.resolve(view)
    if command.startswith("undo "):
        target = command[5:]
        found = [c for c in path[-1].children if c.line == target or c.line.startswith(target + " ")]
        for node in found[:1]:
            config.remove(path, node)
        if any(re.fullmatch(p, target) for p in grammar.shown_undone):  # printed where X was
            config.add(path, command, found[0].rank if found else None)
        return view
    shown_off = config.find(path, f"undo {command}")
    if shown_off is not None:  # X printed where `undo X` was
        config.remove(path, shown_off)
        config.add(path, command, shown_off.rank)
    rank = None
    keyed = [m.group(0) for m in (re.match(p, command) for p in grammar.keyed_value) if m]
    for prefix in grammar.single_value + keyed:
        if command.startswith(prefix):
            for old in [c for c in path[-1].children if c.line.startswith(prefix) and c.line != command]:
                config.remove(path, old)
                rank = old.rank  # the new value prints where the old one did
    existing = config.find(path, command)
    opens = grammar.opens_view(path, command) or (existing is not None and existing.children)
    config.add(path, command, rank)
    return (*view, command) if opens else view
