"""The README and docs/ say what the code does: every documented command option exists, the
defaults they quote are the code's, every link resolves, and the README stays a front door."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from modeldev.cli.main import build_parser
from modeldev.data import split
from modeldev.evaluation import thresholds
from modeldev.evaluation.statistics import ALPHA

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_MAX_LINES = 250


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Each `modeldev` subcommand's parser, by name."""
    action = next(a for a in build_parser()._actions
                  if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def documented_usages(text: str) -> list[tuple[str, list[str]]]:
    """(subcommand, options) of every `modeldev NAME ...` usage in the text's code blocks,
    continuation lines included."""
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```(?:text|bash)\n(.*?)```", text, re.S):
        current: list[str] | None = None
        for line in block.splitlines():
            head = re.match(r"\s*(?:\.venv/bin/)?modeldev (\w+)", line)
            if head:
                current = []
                found.append((head.group(1), current))
            elif current is None or not line.startswith(" "):
                current = None
                continue
            current.extend(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line))
    return found


def test_the_readme_is_a_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines"
    for heading in ("## Install and run", "## Install and test"):
        assert heading in lines


def test_the_readme_test_command_is_what_ci_runs():
    readme = README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"## Install and test\n\n```bash\n(.+?)\n```", readme).group(1)
    assert command in ci.splitlines()


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_documented_option_exists(doc: Path):
    parsers = subcommands()
    usages = documented_usages(doc.read_text())
    for name, options in usages:
        assert name in parsers, f"{doc.name} documents `modeldev {name}`, which does not exist"
        known = {o for a in parsers[name]._actions for o in a.option_strings}
        unknown = sorted(set(options) - known)
        assert not unknown, f"{doc.name}: `modeldev {name}` has no option {unknown}"


def test_the_readme_documents_every_subcommand():
    documented = {name for name, _ in documented_usages(README.read_text())}
    assert documented >= set(subcommands()) - {"jobs"} | {"train", "tune"}
    assert "modeldev jobs" in README.read_text()


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_resolves(doc: Path):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_quoted_defaults_are_the_codes():
    readme = README.read_text()
    statistics = (ROOT / "docs" / "statistics.md").read_text()
    assert f"{int(split.TEST_SHARE * 100)} % of the rows" in readme
    assert f"{split.AUTO_REPEATS} x {split.AUTO_FOLDS} up to {split.AUTO_MAX_ROWS:,} rows" in readme
    assert f"minority class is under {int(thresholds.AUTO_MINORITY * 100)} %" in readme
    assert f"at most {ALPHA / 2 * 100:g} % false `better`" in readme
    assert f"{ALPHA * 100:g} %" in statistics
