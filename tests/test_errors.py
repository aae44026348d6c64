"""The one rule jobs and ingest use to fail or retry (pva/errors.py): an error's base class says whether the input
is at fault (Permanent: fail at once with the reason), a service is away (Transient: wait for it without using an
attempt), or neither (retry up to max_attempts)."""
from __future__ import annotations

import psycopg2
import psycopg2.errors
import pytest

from pva.ml import BadInput, ModelError, ModelNotFound
from pva.ml.transcribe import TranscribeError
from pva.errors import Permanent, Transient, is_permanent, is_transient
from pva.media.errors import (CorruptMediaError, ImageTooLargeError, MediaTimeoutError, MediaToolError,
                              UnsafePathError, UnsupportedFormatError)
from pva.infra.storage import NotFound, StorageUnavailable


@pytest.mark.parametrize("error", [BadInput("not an image"), TranscribeError("no audio decoder"),
                                   UnsupportedFormatError("a PDF"), CorruptMediaError("truncated"),
                                   ImageTooLargeError("too many pixels"), UnsafePathError("../x")])
def test_errors_about_the_input_fail_the_job_at_once(error):
    assert is_permanent(error) and not is_transient(error)


@pytest.mark.parametrize("error", [MediaTimeoutError("ffmpeg took too long"), MediaToolError("no ffmpeg"),
                                   ModelNotFound("no model"), ModelError("bad model"), RuntimeError("a bug"),
                                   NotFound("media", "x")])
def test_errors_that_are_not_the_inputs_fault_are_retried_with_attempts(error):
    assert not is_permanent(error) and not is_transient(error)


def test_an_unreachable_service_is_transient_also_when_wrapped():
    assert is_transient(StorageUnavailable("s3 down")) and is_transient(psycopg2.OperationalError("gone"))
    assert is_transient(ConnectionRefusedError())
    try:
        try:
            raise StorageUnavailable("s3 down")
        except StorageUnavailable as e:
            raise RuntimeError("could not read the original") from e
    except RuntimeError as wrapped:
        assert is_transient(wrapped)


def test_a_statement_timeout_is_not_transient():
    # the same query would time out again: waiting for the database does not help
    assert not is_transient(psycopg2.errors.QueryCanceled("canceling statement due to statement timeout"))


def test_media_errors_keep_their_value_error_base():
    # callers that catch ValueError (or MediaError) keep working with the new bases
    assert issubclass(CorruptMediaError, ValueError) and issubclass(BadInput, ValueError)
    assert issubclass(StorageUnavailable, Transient) and issubclass(BadInput, Permanent)
