"""The tuning folder's results file, and the store retry budget setting (issue 12, item 4)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from modeldev.config import STORE_RETRY_S, Settings, resolve_settings
from modeldev.errors import InputError
from modeldev.tuning.journal import RESULTS_FILE, ResultsJournal, read_results


def _child(h: str, value: float) -> tuple[dict, dict]:
    record = {"hash": h, "params": {"C": 1.0}, "index": 3, "status": "FINISHED",
              "metrics": {"f1_score": value}, "error": None}
    return record, {"combination_hash": h, "modeldev.kind": "tuning_trial"}


def test_appends_are_whole_lines_kept_across_sessions(tmp_path: Path) -> None:
    with ResultsJournal(tmp_path) as journal:
        journal.append([_child("a", 0.5), _child("b", float("nan"))])
    with ResultsJournal(tmp_path) as journal:  # a resumed session appends, never truncates
        journal.append([_child("c", 0.7)])
        journal.append([])
    lines = (tmp_path / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["record"]["hash"] for line in lines)
    kept = read_results(tmp_path)
    assert list(kept) == ["a", "b", "c"]
    assert kept["a"] == _child("a", 0.5)
    assert math.isnan(kept["b"][0]["metrics"]["f1_score"])


def test_a_line_torn_by_a_crash_is_skipped(tmp_path: Path) -> None:
    with ResultsJournal(tmp_path) as journal:
        journal.append([_child("a", 0.5)])
    with (tmp_path / RESULTS_FILE).open("a") as f:
        f.write('{"record": {"hash": "b", "par')  # the process died mid-write
    assert list(read_results(tmp_path)) == ["a"]
    assert read_results(tmp_path / "elsewhere") == {}


def test_store_retry_budget_from_the_environment(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELDEV_STORE_RETRY_S", raising=False)
    assert resolve_settings(tmp_path).store_retry_s == STORE_RETRY_S == 120.0
    monkeypatch.setenv("MODELDEV_STORE_RETRY_S", "7.5")
    settings = resolve_settings(tmp_path)
    assert settings.store_retry_s == 7.5
    assert Settings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings  # a job
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv("MODELDEV_STORE_RETRY_S", bad)
        with pytest.raises(InputError, match="MODELDEV_STORE_RETRY_S must be a number"):
            resolve_settings(tmp_path)
