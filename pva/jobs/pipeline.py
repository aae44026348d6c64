"""The shared flow of every analysis function (detect, faces, ocr, transcribe).

A function's handler.py builds one ``Task`` in ``init_context`` and calls ``handle(task, event)``.  A Task knows
how to analyse (``analyze``), how to turn results into JSON (``to_json``) and how to replace its stored results for
a media item (``store(cur, media_id, results)``, called inside the job-finishing transaction).

Events:
- a RabbitMQ wake-up ``{"media_id", "kind", "attempt"}``: claim the job, analyse the stored media, replace the
  results and mark the job done in one transaction (or record the error); always returns normally so the worker
  lives on;
- HTTP POST of image/video bytes: analyse and answer JSON, storing nothing;
- HTTP POST ``{"media_id": ...}`` (application/json): (re)analyse stored media now (force) and answer the result.

Every HTTP request is authenticated (a user's API token or the gateway's signature, pva.services.function_auth): 401
without, `read` for posted bytes, `write` and the caller's own media for a media id.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pva.infra import db
from pva import jobs
from ..config import get_settings
from ..db import media as media_q
from ..errors import BadInput
from ..media.image import load_image

log = logging.getLogger("pva.analysis")


@dataclass
class Inputs:
    """What a task analyses: the media row plus lazily fetched images/files."""

    media: dict
    _tmp: list

    @property
    def kind(self) -> str:
        return self.media["kind"]

    def original_path(self) -> Path:
        """The original downloaded to a temporary file (deleted when the job ends)."""
        from pva.infra.storage import get_storage

        s = get_settings()
        tmp_dir = s.tmp_dir
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f"{self.media['id']}-",
                                   suffix=Path(self.media["storage_key"]).suffix[:10])
        os.close(fd)
        self._tmp.append(tmp)
        get_storage().download(s.bucket_originals, self.media["storage_key"], tmp)
        return Path(tmp)

    def images(self, max_side: int | None = None) -> list[tuple[float | None, Any]]:
        """Photos: [(None, image as displayed)]; videos: [(seconds, keyframe)] from the ingest keyframes."""
        from pva.infra.storage import get_storage

        s = get_settings()
        if self.kind == "photo":
            return [(None, load_image(self.original_path(), max_side=max_side, rgb=True))]
        st = get_storage()
        out = []
        for kf in (self.media.get("metadata") or {}).get("keyframes", []):
            data = st.get_bytes(s.bucket_thumbs, kf["key"])
            try:
                img = load_image(data, max_side=max_side, rgb=True)
            except BadInput as e:  # a damaged keyframe: the job fails with the reason instead of retrying
                # the reason without the storage key: it reaches the job's error and HTTP answers
                raise BadInput(f"keyframe at {kf['t']}s: {e}") from None
            out.append((float(kf["t"]), img))
        return out

    def cleanup(self) -> None:
        for t in self._tmp:
            try:
                os.unlink(t)
            except FileNotFoundError:
                pass
        self._tmp.clear()


class Task:
    """Subclass per analysis kind."""

    kind: str = ""
    media_kinds: tuple[str, ...] = ("photo", "video")

    #: the model wrapper this task runs (set by the subclass); its name and version tag the stored results
    model: Any = None

    @property
    def model_name(self) -> str:
        return self.model.name

    @property
    def model_version(self) -> str:
        return getattr(self.model, "version", "") or ""

    def not_applicable(self, media_kind: str) -> str:
        """Why a job fails when its media is of a kind this task does not analyse (the job's recorded error).  A
        task for one kind names it: 'ocr applies to photos only, not to a video'."""
        if len(self.media_kinds) == 1:
            return f"{self.kind} applies to {self.media_kinds[0]}s only, not to a {media_kind}"
        return f"{self.kind} does not apply to a {media_kind}"

    def applies_to(self, media: dict) -> bool:
        """Does this task analyse this item?  Items of one of ``media_kinds``; a task may take more (transcribe: a
        live photo whose motion clip has speech, issue 22)."""
        return media["kind"] in self.media_kinds

    def analyze(self, inputs: Inputs, job: "jobs.Job | None") -> Any:
        """Only called for media of one of ``media_kinds`` (run_stored checks that first)."""
        raise NotImplementedError

    def analyze_bytes(self, data: bytes, content_type: str) -> Any:
        """Analyse posted bytes without storing."""
        raise NotImplementedError

    def to_json(self, results) -> Any:
        raise NotImplementedError

    def to_http_json(self, results, options: dict) -> Any:
        """JSON for an HTTP answer; `options` are the request's query fields (e.g. faces' ?embeddings=1).
        Default: to_json(results)."""
        return self.to_json(results)

    def summary(self, results) -> dict:
        return {}

    def store(self, cur, media: dict, results) -> None:
        raise NotImplementedError


def _load_media(media_id, owner_id=None) -> dict | None:
    """The media row; with owner_id only when that user owns it."""
    with db.transaction() as cur:
        return media_q.get(cur, media_id, owner_id)


def run_stored(task: Task, media_id, force: bool = False) -> tuple[str, Any]:
    """Claim and run the job for stored media.  Returns (outcome, results or None)."""
    box: dict = {}

    def work(job: jobs.Job) -> None:
        m = _load_media(job.media_id)
        if m is None:
            raise BadInput(f"media {job.media_id} no longer exists")
        if not task.applies_to(m):  # one guard for every task, before anything is downloaded
            raise BadInput(task.not_applicable(m["kind"]))
        inputs = Inputs(m, [])
        try:
            results = task.analyze(inputs, job)
        finally:
            inputs.cleanup()
        with job.finishing(task.model_name, task.model_version, task.summary(results)) as cur:
            task.store(cur, m, results)
        box["results"] = results

    outcome = jobs.run(media_id, task.kind, work, force=force)
    return outcome, box.get("results")


def _parse_uuid(v) -> uuid.UUID:
    try:
        return uuid.UUID(str(v))
    except ValueError:
        raise ValueError(f"media_id {v!r} is not a UUID") from None


def handle(task: Task, context, event):
    """Entry point for a function handler: dispatch by trigger kind."""
    trigger = getattr(getattr(event, "trigger", None), "kind", "") or ""
    if trigger == "http":
        return _handle_http(task, context, event)
    if trigger == "cron":
        from ..services import housekeeping

        return housekeeping.reconcile().as_dict()
    body = event.body
    if isinstance(body, (bytes, bytearray)):
        try:
            body = json.loads(body)
        except ValueError:
            context.logger.warn_with("dropping a message that is not JSON", size=len(body))
            return {"error": "message is not JSON"}
    if not isinstance(body, dict) or "media_id" not in body:
        context.logger.warn_with("dropping a message without media_id")
        return {"error": "message without media_id"}
    try:
        media_id = _parse_uuid(body["media_id"])
    except ValueError as e:
        return {"error": str(e)}
    t0 = time.perf_counter()
    outcome, _ = run_stored(task, media_id)
    context.logger.info_with("analysis", kind=task.kind, media_id=str(media_id), outcome=outcome,
                             seconds=round(time.perf_counter() - t0, 3))
    return {"media_id": str(media_id), "kind": task.kind, "outcome": outcome}


def _handle_http(task: Task, context, event):
    """Authenticated first (pva.services.function_auth): a stored media id needs `write` and must be the caller's own
    (404 otherwise, as the gateway answers), posted bytes need `read`."""
    from ..services import function_auth as fa

    ctype = (getattr(event, "content_type", "") or "").split(";")[0].strip().lower()
    options = {str(k): v for k, v in dict(getattr(event, "fields", None) or {}).items()}
    body = event.body
    try:
        caller = fa.verify(getattr(event, "method", "") or "POST", getattr(event, "path", "") or "/",
                           getattr(event, "headers", None), body, content_type=getattr(event, "content_type", ""),
                           query=getattr(event, "fields", None))
    except fa.AuthFailed as e:
        return _json(context, e.status, {"error": str(e)},
                     {"WWW-Authenticate": 'Bearer realm="pva"'} if e.status == 401 else None)
    if isinstance(body, dict) or ctype == "application/json":
        if isinstance(body, (bytes, bytearray)):
            try:
                body = json.loads(body)
            except ValueError:
                return _json(context, 400, {"error": "invalid JSON body"})
        if not isinstance(body, dict) or "media_id" not in body:
            return _json(context, 400, {"error": "POST image bytes, or JSON {\"media_id\": ...}"})
        try:
            media_id = _parse_uuid(body["media_id"])
        except ValueError as e:
            return _json(context, 400, {"error": str(e)})
        options.update({str(k): v for k, v in body.items() if k != "media_id"})
        if not caller.has("write"):
            return _json(context, 403, {"error": "re-analysing stored media stores its results: this needs the "
                                                 "'write' scope, which the caller lacks"})
        m = _load_media(media_id, caller.user_id)
        if m is None:
            return _json(context, 404, {"error": f"no media {media_id}"})
        if not task.applies_to(m):
            return _json(context, 400, {"error": f"{task.kind} does not apply to a {m['kind']}"})
        with db.transaction() as cur:
            from ..db import analysis as q

            q.insert_queued(cur, media_id, [task.kind])
        outcome, results = run_stored(task, media_id, force=True)
        with db.transaction() as cur:
            from ..db import analysis as q

            row = q.get(cur, media_id, task.kind)
        payload = {"media_id": str(media_id), "kind": task.kind, "outcome": outcome,
                   "status": row["status"] if row else None, "error": row["error"] if row else None}
        if results is not None:
            payload["results"] = task.to_http_json(results, options)
        return _json(context, 200 if outcome == "done" else 422, payload)
    if not caller.has("read"):
        return _json(context, 403, {"error": "analysing posted bytes needs the 'read' scope, which the caller lacks"})
    if not isinstance(body, (bytes, bytearray)) or not body:
        return _json(context, 400, {"error": "POST the image bytes as the request body"})
    try:
        results = task.analyze_bytes(bytes(body), ctype)
    except BadInput as e:
        return _json(context, 422, {"error": str(e)})
    return _json(context, 200, {"kind": task.kind, "model": task.model_name, "model_version": task.model_version,
                                "results": task.to_http_json(results, options)})


def _json(context, status: int, payload, headers: dict | None = None) -> Any:
    return context.Response(body=json.dumps(payload, default=str), headers=headers or {},
                            content_type="application/json", status_code=status)
