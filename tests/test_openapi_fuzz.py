"""The OpenAPI document tells the truth, checked three ways:

- Schemathesis generates requests for every operation from the app's own /api/openapi.json (a real user's token,
  a fixed seed, a bounded number of examples) and calls the app: no 5xx, no status the document does not list,
  content types and error bodies as documented.
- Every status the authorization matrix (tests/test_authz_matrix.py) expects from any caller is documented, and
  each route's real success answer (called as the matrix's owner or administrator) has a documented status and
  validates against the documented body (gateway/schemas.py).
- A method a path does not answer gets 405 with an Allow header naming exactly the methods it does answer.
"""
from __future__ import annotations

import re
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from test_authz_matrix import (CALLERS, OWN_ITEMS, OWNER, RULES, SAFE, app_routes, expected, make_app,  # noqa: F401
                               world)
from test_gateway_helpers import new_user, token_for

MAX_EXAMPLES = 25  # per operation: ~60 operations stay well under two minutes on two shared cores
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
STARTED: dict[str, float] = {}


@pytest.fixture(scope="session")
def fuzz_user(services):
    # an administrator with every scope, so the fuzzer gets past authorization into the handlers (admin-only
    # routes and all=true included); everything it creates lives in this session's scratch database
    return new_user(admin=True)


@pytest.fixture(scope="session")
def fuzz_token(fuzz_user):
    STARTED.setdefault("t", time.monotonic())
    yield token_for(fuzz_user)
    from pva.services import auth

    # the fuzzer's wrong passwords must not rate-limit logins in later tests of this session
    if hasattr(auth.login_limiter, "reset"):
        auth.login_limiter.reset()


# Loaded at collection: building the app and its document needs no service (requests reach them only when the
# cases run, after the `services` fixture has pointed the settings at this session's database, vhost and buckets).
# (schemathesis.pytest.from_fixture would defer this, but does not work with this pytest.)
schema = schemathesis.openapi.from_asgi("/api/openapi.json", make_app())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck), database=None)
def test_no_server_error_and_no_undocumented_status(case, services, fuzz_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_token}"}, checks=CHECKS)


def test_fuzzing_stayed_within_its_time_budget():
    """Runs after the fuzz cases (file order): the bound above must keep the whole run short."""
    if "t" not in STARTED:
        pytest.skip("the fuzz cases did not run in this session")
    assert time.monotonic() - STARTED["t"] < 180, "lower MAX_EXAMPLES: the fuzz run takes too long for the suite"


def test_every_status_the_authz_matrix_expects_is_documented(services):
    from gateway.openapi import statuses_for

    app = make_app()
    doc = app.openapi()
    missing = []
    for method, path in app_routes(app):
        op = doc["paths"].get(path, {}).get(method.lower())
        if op is None:
            continue  # not in the document (pages, metrics, the webhook, the document itself)
        documented = {int(c) for c in op["responses"]}
        assert statuses_for(app, method, path) <= documented
        wanted = {s for c in CALLERS for s in expected(RULES[(method, path)], c)}
        if wanted - documented:
            missing.append(f"{method} {path}: {sorted(wanted - documented)} (documented {sorted(documented)})")
    assert not missing, "statuses the app answers but the document does not list:\n" + "\n".join(missing)


def test_405_names_every_method_the_path_answers(services):
    from fastapi.testclient import TestClient
    from starlette.routing import compile_path

    app = make_app()
    c = TestClient(app, raise_server_exceptions=False)
    by_path: dict[str, set[str]] = {}
    for method, path in app_routes(app):
        by_path.setdefault(path, set()).add(method)
    checked = 0
    for path in by_path:
        concrete = re.sub(r"{(\w+)(?::\w+)?}", "00000000-0000-0000-0000-000000000001", path)
        # a concrete path can match several templates (/media/upload is also /media/{media_id})
        methods = set().union(*(ms for p, ms in by_path.items() if compile_path(p)[0].match(concrete)))
        others = sorted({"GET", "PUT", "POST", "DELETE", "PATCH"} - methods)
        if not others:
            continue
        r = c.request(others[0], concrete)
        assert r.status_code == 405, f"{others[0]} {path}: {r.status_code}"
        allow = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
        assert allow == methods, f"{others[0]} {path}: Allow {sorted(allow)}, the path answers {sorted(methods)}"
        assert r.json()["error"] == "method_not_allowed"
        checked += 1
    assert checked > 30


def test_success_answers_match_their_documented_bodies(world):
    import jsonschema_rs  # what Schemathesis validates with

    doc = world.app.openapi()
    checked, wrong = 0, []
    for (method, path), rule in sorted(RULES.items()):
        op = doc["paths"].get(path, {}).get(method.lower())
        if op is None:
            continue
        caller = "admin" if rule.scope == "admin" else "owner"
        objs = world.new_objects() if method not in SAFE and rule.access in (OWNER, OWN_ITEMS) else None
        r = world.call(method, path, rule, caller, objs)
        documented = op["responses"].get(str(r.status_code))
        if documented is None:
            wrong.append(f"{method} {path}: {r.status_code} is not documented")
            continue
        body_schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if not body_schema or not r.headers.get("content-type", "").startswith("application/json"):
            continue
        validator = jsonschema_rs.Draft202012Validator({**body_schema, "components": doc["components"]})
        errors = list(validator.iter_errors(r.json()))
        if errors:
            wrong.append(f"{method} {path} {r.status_code}: " + "; ".join(
                f"{'/'.join(map(str, e.instance_path))}: {e.message[:120]}" for e in errors[:3]))
        checked += 1
    assert not wrong, "answers that do not match the document:\n" + "\n".join(wrong)
    assert checked >= 40


def test_every_json_success_answer_has_a_model():
    doc = make_app().openapi()
    untyped = [f"{m.upper()} {p} {code}" for p, item in doc["paths"].items() for m, op in item.items()
               for code, resp in op.get("responses", {}).items() if code.startswith("2")
               and resp.get("content", {}).get("application/json", {}).get("schema", None) == {}]
    assert not untyped, ("JSON answers documented without a body model: add one to gateway/schemas.py and name it in "
                         f"gateway/openapi.py MODELS (or response_model= on the route): {untyped}")
