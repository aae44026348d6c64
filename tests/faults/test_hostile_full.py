"""The hostile corpus (tests/hostile_corpus.py, with a real 144-megapixel deflate bomb added) through every entry
point of the running system: media.ingest messages and object-store drop events consumed by the ingest function on
the local runtime, the function's HTTP trigger, the gateway's upload over HTTP (uvicorn) and `pva sync`.

Each file gets a clear reason where the user of that entry point looks (rejections table, rejected/ + reason in the
inbox, the HTTP answer, the sync summary), no worker dies (same pids, no restarts), and the good files of the same
batch are added.  Afterwards every owner's objects and rows match one to one."""
from __future__ import annotations

import os
import secrets
import time
import urllib.parse
import uuid

import pytest

import hostile_corpus as hc
from faults.conftest import gateway_server, serve_functions
from faults.helpers import check_library

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]


def _corpus(salt: str) -> list[hc.Case]:
    return hc.corpus(salt, heavy=True) + hc.good_files(3, salt)


def _workers(serve) -> dict:
    info = serve.refresh()
    return {(fn, tn, w["id"]): (w["pid"], w["restarts"]) for fn, f in info["functions"].items()
            for tn, t in f["triggers"].items() for w in t["workers"]}


def _wait(pred, timeout: float, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(poll)


def _db_form(name: str) -> str:
    """How a name is kept in the rejections table (NUL and undecodable bytes escaped)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _queue_outcomes(owner, cases, tmp_path) -> tuple[dict, list[str]]:
    """media.ingest messages (file on a disk the function reads, hostile relative_path) plus malformed messages."""
    from pva.infra import bus, db

    msgs, sent = [], []
    for case in cases:
        p = tmp_path / f"{case.id}.bin"  # the attack is in relative_path; the file itself sits at a plain path
        p.write_bytes(case.data)
        try:
            bus.encode_body({"relative_path": case.text_name})
        except TypeError:  # a publisher cannot even send a non-UTF-8 name: nothing reaches the function
            continue
        sent.append(case)
        msgs.append(("media.ingest", {"path": str(p), "owner": owner["username"], "relative_path": case.text_name,
                                      "source": "load"}, f"hostile-{case.id}-{uuid.uuid4().hex[:6]}"))
    # malformed events: dropped with a log line, never a dead worker
    msgs += [("media.ingest", {"path": str(tmp_path / "x.jpg")}, "no-owner"),
             ("media.ingest", {"nothing": "useful"}, "no-path"),
             ("storage.inbox", {"Records": "not a list"}, "bad-records"),
             ("media.ingest", {"path": "/etc/shadow", "owner": owner["username"], "relative_path": "shadow.jpg"},
              "outside-file")]
    bus.publish_many(msgs)

    def outcomes():
        rows = db.query("select original_path from media where owner_id = %s", (owner["id"],))
        rej = db.query("select name, reason from rejections where owner_id = %s", (owner["id"],))
        return rows, rej

    _wait(lambda: sum(map(len, outcomes())) >= len(sent) + 1, timeout=180)
    rows, rej = outcomes()
    added = {r["original_path"] for r in rows}
    rejected = {r["name"]: r["reason"] for r in rej}
    got, problems = {}, []
    for case in sent:
        name = _db_form(case.text_name)
        if name in rejected:
            got[case.id] = ("rejected", rejected[name])
        elif name in added:
            got[case.id] = ("added", None)
        else:
            cleaned = [a for a in added if a.endswith(name.split("/")[-1])]
            got[case.id] = ("added", None) if cleaned else ("no outcome recorded", None)
        err = hc.check_result(case, *got[case.id])
        if err:
            problems.append(f"queue: {err}")
    if "shadow.jpg" not in rejected:
        problems.append("queue: /etc/shadow named in a message was not rejected")
    return got, problems


def _drop_outcomes(owner, cases) -> tuple[dict, list[str]]:
    from pva.infra import bus
    from pva.config import get_settings
    from pva.services.inbox import REJECTED_PREFIX
    from pva.infra.storage import get_storage

    s, st = get_settings(), get_storage()
    records, keys = [], {}
    for case in cases:
        key = f"{owner['username']}/{case.text_name}"
        try:
            key.encode("utf-8")
            st.put(s.bucket_inbox, key, case.data, length=len(case.data))
        except Exception:  # noqa: BLE001 - the store refuses the key: this name cannot be dropped at all
            continue
        keys[case.id] = key
        records.append({"eventName": "s3:ObjectCreated:Put",
                        "s3": {"bucket": {"name": s.bucket_inbox},
                               "object": {"key": urllib.parse.quote_plus(key, safe="/"), "size": len(case.data)}}})
    present = {o.key for o in st.list(s.bucket_inbox, owner["username"] + "/")}
    bus.publish_many([("storage.inbox", {"EventName": "s3:ObjectCreated:Put", "Records": records}, "hostile-drop")])
    # the inbox empties: added files leave, rejected ones move under rejected/
    _wait(lambda: not any(st.list(s.bucket_inbox, owner["username"] + "/")), timeout=180)
    from pva.infra import db

    added = {r["original_path"] for r in db.query("select original_path from media where owner_id = %s",
                                                  (owner["id"],))}
    got, problems = {}, []
    for case in cases:
        key = keys.get(case.id)
        if key is None or key not in present:
            continue
        rej = REJECTED_PREFIX + key
        if st.stat(s.bucket_inbox, rej) is not None:
            reason = st.get_bytes(s.bucket_inbox, rej + ".reason.txt").decode(errors="replace")
            got[case.id] = ("rejected", reason)
        elif key.split("/", 1)[1] in added:
            got[case.id] = ("added", None)
        else:
            got[case.id] = ("still in the inbox or lost", None)
        err = hc.check_result(case, *got[case.id])
        if err:
            problems.append(f"drop: {err}")
    left = [o.key for o in st.list(s.bucket_inbox, owner["username"] + "/")]
    if left:
        problems.append(f"drop: objects never handled: {left}")
    return got, problems


def _http_outcomes(owner, cases, port: int) -> tuple[dict, list[str]]:
    import httpx

    got, problems = {}, []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
        for case in cases:
            name = urllib.parse.quote(hc.fs_name(case), safe="")
            r = c.post("/", content=case.data, headers={"Authorization": f"Bearer {owner['token']}",
                                                         "X-PVA-Filename": name,
                                                         "Content-Type": "application/octet-stream"})
            try:
                body = r.json()
            except ValueError:
                problems.append(f"http: {case.id}: HTTP {r.status_code} not JSON: {r.text[:200]}")
                continue
            got[case.id] = (body.get("status"), body.get("reason"), r.status_code)
            want = {"added": 201, "duplicate": 200, "rejected": 422}.get(body.get("status"))
            if r.status_code != want:
                problems.append(f"http: {case.id}: HTTP {r.status_code} for {body}")
            err = hc.check_result(case, body.get("status"), body.get("reason"), body.get("storage_key"),
                                  allow_clean_name=case.id == "name-non-utf8")
            if err:
                problems.append(f"http: {err}")
    return got, problems


def _upload_outcomes(owner, cases, url: str) -> tuple[dict, list[str]]:
    import httpx

    boundary = "hostile" + secrets.token_hex(8)
    body = hc.multipart_body([(hc.fs_name(c), c.data) for c in cases], boundary)
    r = httpx.post(f"{url}/api/v1/media/upload", content=body, timeout=300,
                   headers={"Authorization": f"Bearer {owner['token']}",
                            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    if r.status_code != 200:
        return {}, [f"upload: HTTP {r.status_code}: {r.text[:300]}"]
    got, problems = {}, []
    for case, res in zip(cases, r.json()["results"]):
        got[case.id] = (res["status"], res.get("reason"), res.get("name"))
        err = hc.check_result(case, res["status"], res.get("reason"), res.get("name"), allow_clean_name=True)
        if err:
            problems.append(f"upload: {err}")
    return got, problems


def _sync_outcomes(owner, cases, url: str, tmp_path) -> tuple[dict, list[str]]:
    from pva.sync.engine import SyncOptions, run_sync

    root = tmp_path / "Pictures"
    placed = hc.write_tree(root, cases)
    by_path = {os.fsencode(str(p)): cid for cid, p in placed.items()}
    got: dict = {}

    def on_result(lf, res):
        cid = by_path.get(os.fsencode(str(lf.path)))
        if cid:
            got[cid] = (res.get("status"), res.get("reason"), res.get("name"))

    summary = run_sync(SyncOptions(roots=[root], server=url, token=owner["token"], concurrency=4, wait=30,
                                   state_path=tmp_path / "sync-state.db"), on_result=on_result)
    problems = [] if summary.error is None else [f"sync: stopped: {summary.error}"]
    for case in cases:
        if case.id not in placed:
            continue
        if case.id not in got:
            problems.append(f"sync: {case.id}: no result")
            continue
        err = hc.check_result(case, got[case.id][0], got[case.id][1], got[case.id][2], allow_clean_name=True)
        if err:
            problems.append(f"sync: {err}")
    # the sync summary shows each rejection with its reason
    shown = {rel for status, rel, reason in summary.problems if status == "rejected" and reason}
    if sum(1 for v in got.values() if v[0] == "rejected") != len(shown):
        problems.append(f"sync: rejected files missing from the summary: {summary.text()}")
    # local files are only read
    for cid, p in placed.items():
        if p.read_bytes() != next(c.data for c in cases if c.id == cid):
            problems.append(f"sync: {cid}: the local file changed")
    return got, problems


def test_hostile_corpus_through_every_entry_point_gets_reasons_and_kills_no_worker(iso, tmp_path, fault_report):
    salt = secrets.token_hex(3)
    results, problems, owners = {}, [], {}
    # the queue entry's files sit in tmp_path/queue: a load root, as path messages are honoured only there
    with serve_functions(iso, ["ingest"], env={"PVA_LOAD_ROOTS": str(tmp_path / "queue")}) as serve, \
            gateway_server(iso) as url:
        before = _workers(serve)
        for entry in ("queue", "drop", "http", "upload", "sync"):
            owners[entry] = iso.user()
            cases = _corpus(salt + entry)
            d = tmp_path / entry
            d.mkdir()
            t0 = time.monotonic()
            if entry == "queue":
                got, probs = _queue_outcomes(owners[entry], cases, d)
            elif entry == "drop":
                got, probs = _drop_outcomes(owners[entry], cases)
            elif entry == "http":
                got, probs = _http_outcomes(owners[entry], cases, serve.http_port("pva-ingest"))
            elif entry == "upload":
                got, probs = _upload_outcomes(owners[entry], cases, url)
            else:
                got, probs = _sync_outcomes(owners[entry], cases, url, d)
            results[entry] = (got, time.monotonic() - t0)
            problems += probs
            goods = [c.id for c in cases if c.good]
            if not all(got.get(g, ("?",))[0] in ("added", "uploaded") for g in goods):
                problems.append(f"{entry}: good files of the batch not added: {[got.get(g) for g in goods]}")
        after = _workers(serve)
        serve_alive = serve.proc.poll() is None
    libs = {e: check_library(o) for e, o in owners.items()}
    for e, lib in libs.items():
        problems += [f"{e}: {p}" for p in lib["problems"]]
    for entry, (got, secs) in results.items():
        fault_report(fault=f"hostile corpus via {entry}", injected=len(got), files_in=len(got),
                     stored=libs[entry]["rows"], rejected=sum(1 for v in got.values() if v[0] == "rejected"),
                     analyses="-", failed=sum(1 for v in got.values() if v[0] == "failed"),
                     lost=sum(1 for v in got.values() if v[0] not in ("added", "uploaded", "rejected", "duplicate",
                                                                      "present")),
                     note=f"{secs:.1f}s")
    assert serve_alive
    assert after == before, f"workers died or restarted: before {before}, after {after}"
    assert not problems, "\n".join(problems)
