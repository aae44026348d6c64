"""Fuzz the REST API from its own OpenAPI schema (schemathesis) against a real uvicorn gateway, authenticated with a
real token: no 5xx, responses that match the declared schema and content type.  Bounded: PVA_FAULTS_FUZZ_EXAMPLES
examples per operation (default 25), so it runs in a few minutes."""
from __future__ import annotations

import os
import time

import pytest

from faults.conftest import gateway_server

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]

EXAMPLES = int(os.environ.get("PVA_FAULTS_FUZZ_EXAMPLES", "25"))


def fuzz(base_url: str, token: str, examples: int, *, app=None) -> tuple[int, dict[str, list[str]]]:
    """Run every operation of the schema with `examples` generated cases; returns (cases run, failures by
    operation).  `app`: fuzz an ASGI app in-process instead of base_url (the quick suite's smoke version)."""
    import hypothesis
    import schemathesis
    from hypothesis import HealthCheck, Phase
    from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                     response_schema_conformance)

    if app is not None:
        schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    else:
        schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    failures: dict[str, list[str]] = {}
    count = 0
    for result in schema.get_all_operations():
        op = result.ok()
        label = f"{op.method.upper()} {op.path}"
        if op.path.endswith("/auth/logout"):
            continue  # would end the token's own session for the remaining operations (covered by test_auth)

        @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                             phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        @hypothesis.given(case=op.as_strategy())
        def run(case):
            nonlocal count
            count += 1
            resp = case.call(base_url=base_url, headers=headers) if app is None else case.call(headers=headers)
            try:
                case.validate_response(resp, checks=checks, headers=headers)
            except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - collect each operation's failure, go on
                msg = str(e).strip().splitlines()
                failures.setdefault(label, []).append(
                    f"{resp.status_code} {' | '.join(msg[:6])[:600]}\n      reproduce: {case.as_curl_command(headers)}"
                    [:1200])
                raise

        try:
            run()
        except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - recorded above, or raised by the app
            failures.setdefault(label, [f"{type(e).__name__}: {str(e)[:600]}"])
    return count, failures


def test_api_fuzzed_from_its_schema_gives_no_5xx_and_no_schema_violations(iso, fault_report):
    import httpx

    owner = iso.user()
    with gateway_server(iso) as url:
        # a little data, so ids in the library exist and list endpoints return items
        import hostile_corpus as hc

        files = [("files", (f"seed-{i}.jpg", hc.photo(f"fuzz-seed-{i}"), "image/jpeg")) for i in range(3)]
        r = httpx.post(f"{url}/api/v1/media/upload", files=files, timeout=60,
                       headers={"Authorization": f"Bearer {owner['token']}"})
        assert r.status_code == 200, r.text
        t0 = time.monotonic()
        count, failures = fuzz(url, owner["token"], EXAMPLES)
        seconds = time.monotonic() - t0
        health = httpx.get(f"{url}/healthz", timeout=10)
    fault_report(fault="API fuzz (schemathesis)", injected=count, files_in=3, stored=3, rejected=0, analyses="-",
                 failed=len(failures), lost=0, note=f"{len(failures)} operations with failures, {seconds:.0f}s")
    assert health.status_code == 200
    assert count > 100, "schemathesis generated almost nothing"
    assert not failures, "\n".join(f"{op}:\n    " + "\n    ".join(msgs[:2]) for op, msgs in failures.items())
