"""What a failure means for the work that hit it: the one rule that decides whether a job fails or retries.

- :class:`Permanent`: the input itself is at fault (not an image, damaged, too large, an unsafe name): retrying
  cannot help, so the job fails at once and ``str(err)`` is the reason shown to the user.
- :class:`Transient`: a service (object store, database, a model server) could not be reached or dropped the
  connection: the work itself is fine, so the job is requeued without using up an attempt and an outage of any
  length fails nothing.
- anything else (a bug, an overloaded machine, a missing tool): retried up to ``max_attempts`` with a back-off.

Errors of our own derive from a base (:class:`BadInput` below and the file's-fault pva.media errors are
Permanent, pva.infra.storage.StorageUnavailable is Transient); the client libraries' connection errors cannot, so
:func:`is_transient` names them.  This module imports nothing of pva, so every layer can raise these.
"""
from __future__ import annotations


class Permanent(Exception):
    """The input cannot be processed, now or later; the message says why (it is shown to the user)."""


class Transient(Exception):
    """A service the work needs is unreachable for now; the same work will succeed once it is back."""


class AnalysisError(Exception):
    """Base class of the errors raised by the model wrappers (pva.ml) and the image decoder (pva.media.image).

    Here rather than in pva.ml so that pva.media can raise BadInput without importing the model layer."""


class BadInput(AnalysisError, Permanent, ValueError):
    """The input is not something we can analyse (not an image, truncated, too large...).

    Permanent for that input: retrying the job will not help.  The message says why.
    """


class ModelNotFound(AnalysisError, FileNotFoundError):
    """No model file is installed; the message says how to get one."""


class ModelError(AnalysisError, RuntimeError):
    """A model file exists but cannot be used (wrong format, missing backend...)."""


class ServiceError(Exception):
    """A request a service refuses, said in the caller's terms; the gateway answers it with ``status`` and the message
    as the error body (gateway.app), the CLI prints the message.  Services raise these instead of HTTP errors so
    that they do not depend on the web framework."""

    status = 400
    code = "invalid_request"


class NotFound(ServiceError, LookupError):
    """No such item, or it is not the caller's: the same answer either way (never reveal that an id exists)."""

    status, code = 404, "not_found"

    def __init__(self, what: str = "item", message: str | None = None):
        super().__init__(message or f"no such {what}")


class Forbidden(ServiceError):
    """The caller is known but may not do this (an administrator's action, a read-only share...)."""

    status, code = 403, "forbidden"


class Conflict(ServiceError):
    """The item is not in a state that allows this (already exists, not in the trash...)."""

    status, code = 409, "conflict"


class Invalid(ServiceError):
    """The request cannot be used as sent; the message says why."""


class Unavailable(ServiceError):
    """Something the request needs (a model, free decode slots) is not available now; ask again after
    ``retry_after`` seconds when it is set."""

    status, code = 503, "unavailable"

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def is_permanent(e: BaseException) -> bool:
    return isinstance(e, Permanent)


def is_transient(e: BaseException) -> bool:
    """``e``, or an error it was raised from, is a Transient or a lost connection of the database or S3 client.
    A statement timeout is not transient: the same query would time out again."""
    # imported here so that raising a Permanent does not load the database and HTTP clients
    import psycopg2
    import psycopg2.errors
    import urllib3

    seen = 0
    while e is not None and seen < 5:
        if isinstance(e, psycopg2.errors.QueryCanceled):
            return False
        if isinstance(e, (Transient, psycopg2.OperationalError, psycopg2.InterfaceError, ConnectionError,
                          urllib3.exceptions.NewConnectionError, urllib3.exceptions.MaxRetryError,
                          urllib3.exceptions.ProtocolError)):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


__all__ = ["Permanent", "Transient", "AnalysisError", "BadInput", "ModelNotFound", "ModelError", "ServiceError",
           "NotFound", "Forbidden", "Conflict", "Invalid", "Unavailable", "is_permanent", "is_transient"]
