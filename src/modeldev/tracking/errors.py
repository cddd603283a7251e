"""MLflow failures as one-sentence TrackingErrors, a locked store retried, a stop signal kept.

A SQLite store locked by another process ("database is locked" after MLflow's own 20 s busy
wait) is retried with backoff for `Settings.store_retry_s` (MODELDEV_STORE_RETRY_S); a store
still locked then, or a tracking server that did not answer MLflow's bounded HTTP retries
(`store.HTTP_ENV_DEFAULTS`), raises `StoreUnavailable`, whose caller keeps what it holds.
After that, the same Tracker's calls get one try each (no backoff), and against a server only
after it answers a 5 s health check, until one succeeds: a clean-up that ends several runs does
not wait out the budget, or MLflow's HTTP retries, once per run.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import sqlalchemy.exc
from mlflow.exceptions import MlflowException

from modeldev.config import redact_uri
from modeldev.errors import StoreUnavailable, TrackingError
from modeldev.events import Cancelled
from modeldev.tracking.children import StoreRefused
from modeldev.tracking.store import HEALTH_TIMEOUT_S, check_server, first_sentence, is_server

F = TypeVar("F", bound=Callable[..., Any])
LOCKED = ("database is locked", "database table is locked", "database is busy")
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 10.0
FAILURES = (MlflowException, OSError, sqlalchemy.exc.SQLAlchemyError, sqlite3.Error,
            StoreRefused)
log = logging.getLogger("modeldev.tracking")


def mlflow_errors(action: str) -> Callable[[F], F]:
    """Turn MLflow and I/O failures of a Tracker method into one-sentence TrackingErrors,
    retrying a locked store with backoff for the settings' `store_retry_s`."""
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            backoff = FIRST_BACKOFF_S
            if getattr(self, "store_away", False) and is_server(self.tracking_uri):
                _still_silent(self.settings.tracking_uri, action)
            while True:
                try:
                    result = method(self, *args, **kwargs)
                    self.store_away = False
                    return result
                except FAILURES as exc:
                    elapsed = time.monotonic() - started
                    budget = 0.0 if getattr(self, "store_away", False) else \
                        float(getattr(self.settings, "store_retry_s", 0.0))
                    if not store_locked(exc) or elapsed >= budget:
                        failure = _failure(exc, action, self.tracking_uri, elapsed)
                        self.store_away = isinstance(failure, StoreUnavailable)
                        raise failure from exc
                    if backoff == FIRST_BACKOFF_S:
                        log.warning("The MLflow store is locked (%s); retrying for up to %.0f s.",
                                    action, budget)
                    time.sleep(min(backoff, budget - elapsed))
                    backoff = min(2 * backoff, MAX_BACKOFF_S)
        return inner  # type: ignore[return-value]
    return wrap


def _failure(exc: BaseException, action: str, uri: str, elapsed: float) -> BaseException:
    """What to raise for a failed call: the stop signal it wrapped, or one sentence."""
    cancel = _cancel_in_chain(exc)
    if cancel is not None:  # a stop signal landed inside an MLflow call
        return cancel
    if store_locked(exc):
        what = f"The MLflow store {uri} stayed locked for {elapsed:.0f} s ({action})"
        return StoreUnavailable(f"{what}; try again once it is free (MODELDEV_STORE_RETRY_S "
                                "says how long modeldev waits).", what)
    if is_server(uri) and server_silent(exc):
        what = f"The tracking server at {uri} did not answer for {elapsed:.0f} s ({action})"
        return StoreUnavailable(f"{what}; try again once it is back.", what)
    return TrackingError(f"MLflow failed {action} at {uri}: {first_sentence(exc)}.")


def _still_silent(uri: str, action: str) -> None:
    """Raise StoreUnavailable at once if a server that stopped answering still fails its check."""
    started = time.monotonic()
    try:
        check_server(uri, HEALTH_TIMEOUT_S)
    except TrackingError as exc:
        what = (f"The tracking server at {redact_uri(uri)} did not answer its health check for "
                f"{time.monotonic() - started:.0f} s ({action})")
        raise StoreUnavailable(f"{what}; try again once it is back.", what) from exc


def _chain(exc: BaseException) -> list[BaseException]:
    """The error and the ones it wraps (cause, else context), at most ten."""
    found: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(found) < 10:
        found.append(seen)
        seen = seen.__cause__ or seen.__context__
    return found


def store_locked(exc: BaseException) -> bool:
    """True when the error is SQLite's "database is locked" (another process holds the file)."""
    return any(marker in str(e).lower() for e in _chain(exc) for marker in LOCKED)


def server_silent(exc: BaseException) -> bool:
    """True when an HTTP request got no answer: refused, reset or timed out (after retries)."""
    return any(isinstance(e, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))
               for e in _chain(exc))


def _cancel_in_chain(exc: BaseException) -> BaseException | None:
    """The Cancelled (or KeyboardInterrupt) MLflow wrapped, if any."""
    for seen in _chain(exc):
        if isinstance(seen, (Cancelled, KeyboardInterrupt)):
            return seen
    return None
