"""Errors that carry one clear sentence for the analyst, and the exit codes they map to."""

import signal

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_CANCELLED = 128 + signal.SIGTERM


class ModeldevError(Exception):
    """Base class: the message is the one sentence shown in the app and on stderr."""


class InputError(ModeldevError):
    """Bad input (data, grid, arguments): nothing was started; the CLI exits with code 2."""


class TrackingError(ModeldevError):
    """The tracking store cannot be reached or used."""


class UntrustedModel(TrackingError):
    """A logged model this installation did not sign, or that changed since: not loaded."""


class StoreUnavailable(TrackingError):
    """The store stayed locked past the retry budget, or the server did not answer in time.

    `what` is the sentence's first clause (which store, for how long), for a caller that adds
    where the results in hand are kept.
    """

    def __init__(self, message: str, what: str | None = None) -> None:
        super().__init__(message)
        self.what = what or message.rstrip(".")


class AllFailedError(ModeldevError):
    """Every framework of a session failed; the CLI exits with code 1."""
