"""MLflow failures as one-sentence TrackingErrors, and a stop signal MLflow wrapped as itself."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy.exc
from mlflow.exceptions import MlflowException

from modeldev.errors import TrackingError
from modeldev.events import Cancelled
from modeldev.tracking.children import StoreRefused
from modeldev.tracking.store import first_sentence

F = TypeVar("F", bound=Callable[..., Any])


def mlflow_errors(action: str) -> Callable[[F], F]:
    """Turn MLflow and I/O failures of a Tracker method into one-sentence TrackingErrors."""
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except (MlflowException, OSError, sqlalchemy.exc.SQLAlchemyError,
                    sqlite3.Error, StoreRefused) as exc:
                cancel = _cancel_in_chain(exc)
                if cancel is not None:  # a stop signal landed inside an MLflow call
                    raise cancel from exc
                raise TrackingError(f"MLflow failed {action} at {self.tracking_uri}: "
                                    f"{first_sentence(exc)}.") from exc
        return inner  # type: ignore[return-value]
    return wrap


def _cancel_in_chain(exc: BaseException) -> BaseException | None:
    """The Cancelled (or KeyboardInterrupt) MLflow wrapped, if any."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, (Cancelled, KeyboardInterrupt)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
