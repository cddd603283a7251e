"""How a local worker process starts (`execution.local` runs the pool).

Workers fork from a server process that has imported numpy, pandas, SciPy, scikit-learn and the
engine's worker modules once ("forkserver"; "spawn" where a platform has none, or where
`MODELDEV_WORKER_START=spawn` asks for a fresh interpreter per worker): a worker is
ready in a tenth of a second instead of paying about 2.5 s of CPU for those imports, so a
session's pool, a worker replaced after a timeout and each further session of one process start
at once. Never a plain fork of the driver: fork is unsafe once TF/torch/threads live there, and
the server imports neither. The server starts with every thread cap at 1, so the BLAS it loaded
runs no threads when it forks. Each worker then takes, before anything else (`worker_setup`,
the first message on its socket): the driver's environment with the thread caps
(`common.thread_caps`), its thread count, to which the BLAS and OpenMP pools already loaded are
raised (threadpoolctl), and the driver's CPU affinity; and, as process arguments, the driver's
stdout and stderr as they are now. Libraries a task imports later (TF, torch, XGBoost, LightGBM)
read the caps from that environment at import; frameworks taking an explicit thread count get it
from `FitContext.n_threads`.

A `__main__` without a file (`python - < script.py`) is hidden from the start method, which
would otherwise have each child run a file that does not exist, and die.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import sys
import threading
from collections.abc import Iterator
from multiprocessing import reduction
from typing import Any

from modeldev.errors import InputError
from modeldev.execution.common import thread_caps

_ENV_LOCK = threading.Lock()
# What every worker imports: loaded once in the server workers fork from. Nothing here may start
# a thread or touch a GPU at import (TF, torch, XGBoost and LightGBM load in the worker).
PRELOADED = ("numpy", "scipy.stats", "pandas", "sklearn.base", "sklearn.model_selection",
             "sklearn.metrics", "sklearn.linear_model", "sklearn.ensemble",
             "modeldev.execution.worker", "modeldev.phase1.fits", "modeldev.tuning.trial")
START_VARIABLE = "MODELDEV_WORKER_START"  # forkserver (default where there is one) or spawn


@contextlib.contextmanager
def child_environment(caps: dict[str, str]) -> Iterator[None]:
    """Set the caps in os.environ while a child starts: spawn copies it at exec, before imports."""
    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in caps}
        os.environ.update(caps)
        try:
            with _main_without_missing_file():
                yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextlib.contextmanager
def _main_without_missing_file() -> Iterator[None]:
    """Hide `__main__.__file__` from spawn while it names no file ('<stdin>' of `python -`).

    Spawn makes each child run the main module's file again; a missing one kills the child at
    start. Without `__file__` the child starts with an empty `__main__`, as for `python -c`
    (functions defined in that `__main__` cannot be used as worker_fn either way).
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    base = getattr(multiprocessing.process, "ORIGINAL_DIR", None) or os.getcwd()
    if main is None or spec_name or path is None or os.path.isfile(os.path.join(base, path)):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def start_method() -> str:
    """How workers start: "forkserver" where the platform has one, unless MODELDEV_WORKER_START
    says "spawn" (each worker a fresh interpreter importing everything itself)."""
    wanted = os.environ.get(START_VARIABLE, "").strip().lower()
    if wanted not in ("", "forkserver", "spawn"):
        raise InputError(f"{START_VARIABLE} must be forkserver or spawn, not {wanted!r}.")
    if wanted == "spawn" or "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    return "forkserver"


def start_worker_server() -> None:
    """Start the process workers fork from, if not running (it imports `PRELOADED` in the
    background; the first worker waits for that). Call it early to overlap those imports
    with the driver's own work; `run_local` calls it anyway."""
    if start_method() != "forkserver":
        return
    with child_environment(thread_caps(1)):  # the server's BLAS: no threads to fork
        multiprocessing.set_forkserver_preload(list(PRELOADED))
        multiprocessing.forkserver.ensure_running()


class _StdStream:
    """The driver's stdout or stderr (a descriptor) as it is now, for a worker to write to:
    a worker forked from the server would otherwise write where the server's went."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:  # pickled at the start: the descriptor goes along
        return (_received_descriptor, (reduction.DupFd(self.fd),))


def _received_descriptor(handle: Any) -> int:
    return int(handle.detach())


def std_stream(fd: int) -> _StdStream | None:
    """Fd 1 or 2 to hand to a worker, or None where the driver has it closed."""
    try:
        os.fstat(fd)
    except OSError:
        return None
    return _StdStream(fd)


def worker_setup(caps: dict[str, str], threads: int) -> bytes:
    """What a worker takes from the driver before anything else: its environment with the caps,
    its thread count and its cores."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    setup = {"environ": {**os.environ, **caps}, "threads": threads, "cores": cores}
    return pickle.dumps(setup, protocol=pickle.HIGHEST_PROTOCOL)


