"""The plan of a grid: its combinations, their hashes, and the staged groups to evaluate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modeldev.execution.common import TrialTask
from modeldev.frameworks.base import Framework
from modeldev.tuning.grid import combination_hash, expand_grid
from modeldev.tuning.trial import group_payload


@dataclass
class Plan:
    """The combinations of a grid, their hashes and the tasks that evaluate the missing ones."""

    combos: list[dict[str, Any]]
    hashes: list[str]
    tasks: list[TrialTask] = field(default_factory=list)

    def task_members(self, key: str) -> list[tuple[str, dict[str, Any]]]:
        """The (hash, params) combinations the task `key` evaluates."""
        return next(t for t in self.tasks if t.key == key).payload["members"]

    @property
    def remaining(self) -> int:
        """Combinations the tasks evaluate."""
        return sum(len(t.payload["members"]) for t in self.tasks)


def make_plan(grid: dict[str, list], adapter: Framework, done: set[str]) -> Plan:
    """Group missing combinations by everything but the prefix parameter (staged evaluation)."""
    combos = expand_grid(grid)
    hashes = [combination_hash(c) for c in combos]
    prefix = adapter.prefix_param if adapter.prefix_param in grid else None
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for combo, h in zip(combos, hashes, strict=True):
        if h in done:
            continue
        rest = {k: v for k, v in combo.items() if k != prefix}
        groups.setdefault(combination_hash(rest), []).append((h, combo))
    tasks = []
    for key, members in groups.items():
        fit_params = dict(members[0][1])
        if prefix:
            fit_params[prefix] = max(int(p[prefix]) for _, p in members)
        tasks.append(TrialTask(key=key, payload=group_payload(fit_params, prefix, members)))
    tasks.sort(key=lambda t: -len(t.payload["members"]))  # big groups first: better packing
    return Plan(combos=combos, hashes=hashes, tasks=tasks)
