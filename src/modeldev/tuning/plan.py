"""The plan of a grid: its combinations, their hashes, and one task per staged group and fold.

Combinations that differ only in the adapter's prefix parameter form a group, fitted once per
fold at the prefix's largest value (staged evaluation). The baseline (the framework's baseline
parameters) is scored on the same folds in the same run, so the tuning's verdict compares the
two on exactly the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modeldev.execution.common import TrialTask
from modeldev.frameworks.base import Framework
from modeldev.tuning.grid import combination_hash, expand_grid
from modeldev.tuning.trial import group_payload

BASELINE = "baseline"  # the group (and member) key of the baseline's own tasks


@dataclass
class Plan:
    """The combinations of a grid, their hashes, the groups still to evaluate and their tasks."""

    combos: list[dict[str, Any]]
    hashes: list[str]
    n_folds: int
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    tasks: list[TrialTask] = field(default_factory=list)

    def task_members(self, key: str) -> list[tuple[str, dict[str, Any]]]:
        """The (hash, params) combinations the group of task `key` evaluates."""
        return self.groups[group_of(key)]

    @property
    def remaining(self) -> int:
        """Combinations the tasks evaluate (the baseline not counted)."""
        return sum(len(m) for k, m in self.groups.items() if k != BASELINE)


def group_of(task_key: str) -> str:
    """The group a task key belongs to ("<group>:<fold>")."""
    return task_key.rsplit(":", 1)[0]


def fold_of(task_key: str) -> int:
    """The fold a task key is for."""
    return int(task_key.rsplit(":", 1)[1])


def make_plan(grid: dict[str, list], adapter: Framework, done: set[str], n_folds: int,
              baseline: dict[str, Any] | None = None) -> Plan:
    """Group the missing combinations by everything but the prefix parameter; one task per
    group and fold, the baseline's first (big groups next: better packing)."""
    combos = expand_grid(grid)
    hashes = [combination_hash(c) for c in combos]
    prefix = adapter.prefix_param if adapter.prefix_param in grid else None
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for combo, h in zip(combos, hashes, strict=True):
        if h in done:
            continue
        rest = {k: v for k, v in combo.items() if k != prefix}
        groups.setdefault(combination_hash(rest), []).append((h, combo))
    plan = Plan(combos=combos, hashes=hashes, n_folds=n_folds)
    if baseline is not None:
        plan.groups[BASELINE] = [(BASELINE, dict(baseline))]
    plan.groups.update(sorted(groups.items(), key=lambda g: -len(g[1])))
    for key, members in plan.groups.items():
        fit_params = dict(members[0][1])
        group_prefix = prefix if key != BASELINE else None
        if group_prefix:
            fit_params[group_prefix] = max(int(p[group_prefix]) for _, p in members)
        plan.tasks += [TrialTask(f"{key}:{fold}", group_payload(fit_params, group_prefix,
                                                               members, fold))
                       for fold in range(n_folds)]
    return plan
