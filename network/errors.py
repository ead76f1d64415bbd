"""Errors meant for the person at the console: what is wrong, where, and what to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the intent, located by file, site path and field."""

    file: str
    where: str
    field: str
    message: str

    def __str__(self) -> str:
        location = f"{self.file}: {self.where}" if self.where else self.file
        field = f"{self.field} " if self.field else ""
        return f"{location}: {field}{self.message}" if location else f"{field}{self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "where": self.where, "field": self.field, "message": self.message}


class JinbaoError(Exception):
    """Base of every error the CLI turns into a clean message and exit code 2."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", "", "", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ModelError(JinbaoError):
    """The intent (sites.yml, addressing.yml, ...) is invalid."""


class IpamError(JinbaoError):
    """An allocation cannot be made: a pool is full, or the plan overlaps itself."""


class RenderError(JinbaoError):
    """A device config cannot be rendered from the model."""


class BusyError(JinbaoError):
    """Another jinbao run is writing what this one would write: nothing was written; run again."""

    exit_code = 4


class LabError(JinbaoError):
    """The lab cannot be brought up or torn down: no Docker engine, an image fails to build, ..."""
