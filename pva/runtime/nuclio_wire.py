"""A handler's return value as Nuclio's processor receives it, and whether the processor can use it.

On Nuclio the python wrapper encodes what the handler returned and writes it to the processor as one ``r`` line;
the Go side decodes it and, for a trigger that hands over one event at a time (http, rabbit-mq, cron), uses
exactly its first result.  Sources (github.com/nuclio/nuclio 1.14.1, commit 9e837f6a07fc):

- pkg/processor/runtime/python/py/_nuclio_wrapper.py l.458-468 ``_encode_entrypoint_output``: a ``list`` becomes a
  JSON array of responses (the batch form), anything else one JSON object via
  ``nuclio_sdk.Response.from_entrypoint_output``; l.450-456 write ``'r' + encoded``.
- pkg/processor/runtime/rpc/result/result.go l.34-44 (``Result`` fields and their JSON types) and l.55-87
  ``UnmarshalResponseData``: a JSON array is read as that many results, else one object; a decode error leaves
  no result at all.
- pkg/processor/runtime/rpc/abstract.go l.80-91 ``ProcessEvent``: ``Results[0]`` - an empty array panics
  (the rabbit-mq message is then never acked, trigger.go l.350-357, and with prefetchCount 1 the queue stops);
  a longer one silently drops every result but the first.

So the local runtime refuses any return that does not come out as exactly one well-typed result, instead of
answering as if it were fine; tests then catch what would break on a real Nuclio.
"""
from __future__ import annotations

import json


class ReplyRefused(ValueError):
    """The handler's return value is not exactly one result as Nuclio's processor reads it."""


def encode(encoder, output) -> str:
    """The ``r`` line (without the newline) Nuclio's python wrapper writes for ``output``."""
    import nuclio_sdk

    if isinstance(output, list):
        response = [nuclio_sdk.Response.from_entrypoint_output(encoder, x) for x in output]
    else:
        response = nuclio_sdk.Response.from_entrypoint_output(encoder, output)
    return "r" + encoder(response)


def describe(output) -> str:
    if isinstance(output, list):
        return f"a list of {len(output)} item(s)"
    return f"a {type(output).__name__}"


def single_result(wire: str) -> dict:
    """The one result Nuclio's Go side takes from an ``r`` line; ReplyRefused when it would take none, drop some,
    or fail to decode it (result.go: status_code an int, content_type/body/body_encoding strings, headers an
    object; body_encoding "text" or "base64")."""
    if not wire.startswith("r"):
        raise ReplyRefused("not a response line")
    try:
        data = json.loads(wire[1:])
    except ValueError as e:
        raise ReplyRefused(f"not JSON: {e}") from None
    if isinstance(data, list):
        raise ReplyRefused(f"a batch of {len(data)} result(s): Nuclio's ProcessEvent takes Results[0]"
                           + (" and panics on an empty batch" if not data else " and drops the rest"))
    if not isinstance(data, dict):
        raise ReplyRefused(f"a JSON {type(data).__name__}, not a result object")
    sc = data.get("status_code", 0)
    if isinstance(sc, bool) or not isinstance(sc, int):
        raise ReplyRefused(f"status_code {sc!r} is not an integer (Go cannot decode the result)")
    for k in ("content_type", "body", "body_encoding"):
        if not isinstance(data.get(k, ""), str):
            raise ReplyRefused(f"{k} {data[k]!r} is not a string (Go cannot decode the result)")
    if not isinstance(data.get("headers") or {}, dict):
        raise ReplyRefused("headers is not an object (Go cannot decode the result)")
    if data.get("body_encoding") not in ("text", "base64"):
        raise ReplyRefused(f"unknown body_encoding {data.get('body_encoding')!r}")
    return data

