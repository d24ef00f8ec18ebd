"""A failed build: every problem found, each named by the JSON path of the manifest field it concerns."""
from __future__ import annotations

from typing import NamedTuple


class Problem(NamedTuple):
    path: str  # JSONPath into manifest.json, e.g. $.bots[0].botId
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ManifestError(Exception):
    """Raised with all problems at once, so an admin fixes their configuration in one round."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
