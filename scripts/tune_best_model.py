#!/usr/bin/env python3
"""Tune the best framework of the latest Phase 1 session: the specification's Phase 2 command.

    python scripts/tune_best_model.py [options of `modeldev tune`]

With no arguments it tunes the best framework of the latest finished Phase 1 session in the
workspace (`MODELDEV_WORKSPACE`, default ./modeldev_workspace) over its default grid. It takes
every option of `modeldev tune` (`--help` lists them) and runs the same entry point: this file
holds no second implementation.
"""

from __future__ import annotations

import sys

from modeldev.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
