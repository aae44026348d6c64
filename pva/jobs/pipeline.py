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
from dataclasses import dataclass, field
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
    """What a task analyses: the media row plus lazily fetched images and files.

    A photo's analyses read its **analysis preview** (issue 20): made once at ingest from the decode the
    thumbnails need, at most ``pva.jobs.ANALYSIS_PREVIEW_PX`` on its long side, orientation and colour applied.
    What a task may ask for:

    - ``preview(max_side)`` — that preview as an RGB image (a JPEG decoded at reduced size when ``max_side`` asks
      for less): enough for YOLO (640), HOG faces (1600) and a text detector (1280);
    - ``original(max_side)`` / ``original_path()`` — the original itself, for a model that needs its full
      detail (OCR's second look at small text): downloaded once per job, only when asked for;
    - ``images(max_side)`` — what detect and faces iterate: a photo's preview, or a video's keyframes.

    An item ingested before previews existed gets its preview made from the original by the first analysis
    that needs it, stored, and recorded on the item, so the others read the preview.  ``fetched`` lists what the
    job read from storage (``("original"|"preview"|"keyframe", key)``), ``timings`` the seconds spent fetching
    and decoding (logged per job; bench/library.py sums them).
    """

    media: dict
    _tmp: list
    #: seconds spent fetching from S3 ("download") and decoding images ("decode") for this job
    timings: dict = field(default_factory=lambda: {"download": 0.0, "decode": 0.0})
    fetched: list = field(default_factory=list)
    _original: Path | None = None
    _preview_jpeg: bytes | None = None

    @property
    def kind(self) -> str:
        return self.media["kind"]

    # ------------------------------------------------------------------ the original
    def original_path(self) -> Path:
        """The original downloaded to a temporary file (deleted when the job ends); downloaded once per job."""
        from pva.infra.storage import get_storage

        if self._original is not None:
            return self._original
        s = get_settings()
        fd, tmp = tempfile.mkstemp(dir=s.tmp_dir, prefix=f"{self.media['id']}-",
                                   suffix=Path(self.media["storage_key"]).suffix[:10])
        os.close(fd)
        self._tmp.append(tmp)
        t0 = time.perf_counter()
        get_storage().download(s.bucket_originals, self.media["storage_key"], tmp)
        self.timings["download"] += time.perf_counter() - t0
        self.fetched.append(("original", self.media["storage_key"]))
        self._original = Path(tmp)
        return self._original

    def original(self, max_side: int | None = None):
        """The original photo as displayed (EXIF orientation applied), RGB; at most ``max_side`` when given."""
        path = self.original_path()
        t0 = time.perf_counter()
        img = load_image(path, max_side=max_side, rgb=True)
        self.timings["decode"] += time.perf_counter() - t0
        return img

    # ------------------------------------------------------------------ the analysis preview
    def preview(self, max_side: int | None = None, *, at_least: int | None = None):
        """A photo's analysis preview as an RGB image, at most ``max_side`` on its long side when given (a JPEG
        decode at 1/2, 1/4 or 1/8 scale where that is still big enough).  ``at_least``: let the JPEG decoder scale
        down while keeping this many pixels on each side, and resize no further (a model that resizes anyway,
        as YOLO's letterbox does, saves a resize).  A photo no bigger than the preview box is read from its
        original; one ingested before previews existed gets its preview made now."""
        if self.kind != "photo":
            raise BadInput(f"a {self.kind} has no analysis preview")
        entry = self._preview_entry()
        if not entry.get("key"):  # small original: the analyses read it as it is
            return self.original(max_side)
        data = self._preview_jpeg
        if data is None:
            from pva.infra.storage import get_storage

            t0 = time.perf_counter()
            try:
                data = get_storage().get_bytes(get_settings().bucket_thumbs, entry["key"])
            except Exception as e:
                if not _is_missing(e):
                    raise
                # the preview object is gone (a restore without derived data): the original, and a new preview
                log.warning("analysis preview missing; making it again", extra={"media_id": str(self.media["id"])})
                return self._make_preview(max_side)
            self.timings["download"] += time.perf_counter() - t0
            self.fetched.append(("preview", entry["key"]))
            self._preview_jpeg = data
        t0 = time.perf_counter()
        img = load_image(data, max_side=max_side, draft=(at_least, at_least) if at_least else None, rgb=True)
        self.timings["decode"] += time.perf_counter() - t0
        return img

    def _preview_entry(self) -> dict:
        entry = (self.media.get("metadata") or {}).get("analysis_preview")
        if isinstance(entry, dict):
            return entry
        self._make_preview(None)
        return self.media["metadata"]["analysis_preview"]

    def _make_preview(self, max_side: int | None):
        """Make the analysis preview from the original (as ingest does), store it and record it on the item;
        returns the preview image (at most max_side)."""
        from pva.infra.storage import get_storage

        from ..media.errors import MediaError
        from ..media.thumbs import make_thumbnails

        path = self.original_path()
        if self.media.get("format") in _HEADER_SIZED and self._small_original(path):
            return self.original(max_side)
        t0 = time.perf_counter()
        try:
            jpeg = make_thumbnails(path, {"analysis": jobs.ANALYSIS_PREVIEW_PX},
                                   qualities={"analysis": jobs.ANALYSIS_PREVIEW_QUALITY},
                                   draft_fraction=jobs.ANALYSIS_PREVIEW_DRAFT)["analysis"]
        except MediaError:  # the file's fault: the analysis decoder says why (or reads what thumbnails cannot)
            return self.original(max_side)
        self.timings["decode"] += time.perf_counter() - t0
        derived: dict[str, bytes] = {}
        entry = jobs.keep_analysis_preview(self.media["id"], jpeg, derived)["analysis_preview"]
        st = get_storage()
        for key, data in derived.items():
            st.put(get_settings().bucket_thumbs, key, data, length=len(data), content_type="image/jpeg")
        with db.transaction() as cur:
            media_q.set_metadata_keys(cur, self.media["id"], {"analysis_preview": entry})
        self.media["metadata"] = {**(self.media.get("metadata") or {}), "analysis_preview": entry}
        if not entry.get("key"):
            return self.original(max_side)
        self._preview_jpeg = jpeg
        t0 = time.perf_counter()
        img = load_image(jpeg, max_side=max_side, rgb=True)
        self.timings["decode"] += time.perf_counter() - t0
        return img

    def _small_original(self, path: Path) -> bool:
        """True (and recorded on the item) when the original's header says it is smaller than a preview would be:
        its analyses read it as it is, without decoding it once more to find out."""
        from PIL import Image

        try:
            with Image.open(path) as im:
                size = im.size
        except Exception:  # the decoders below say what is wrong with it
            return False
        if max(size) >= jobs.ANALYSIS_PREVIEW_PX * jobs.ANALYSIS_PREVIEW_DRAFT:
            return False
        entry = jobs.analysis_preview_metadata(None, None)["analysis_preview"]
        with db.transaction() as cur:
            media_q.set_metadata_keys(cur, self.media["id"], {"analysis_preview": entry})
        self.media["metadata"] = {**(self.media.get("metadata") or {}), "analysis_preview": entry}
        return True

    # ------------------------------------------------------------------ what detect and faces iterate
    def images(self, max_side: int | None = None) -> list[tuple[float | None, Any]]:
        """Photos: [(None, the analysis preview)]; videos: [(seconds, keyframe)] from the ingest keyframes."""
        from pva.infra.storage import get_storage

        s = get_settings()
        if self.kind == "photo":
            return [(None, self.preview(max_side))]
        st = get_storage()
        out = []
        for kf in (self.media.get("metadata") or {}).get("keyframes", []):
            t0 = time.perf_counter()
            data = st.get_bytes(s.bucket_thumbs, kf["key"])
            t1 = time.perf_counter()
            self.timings["download"] += t1 - t0
            self.fetched.append(("keyframe", kf["key"]))
            try:
                img = load_image(data, max_side=max_side, rgb=True)
                self.timings["decode"] += time.perf_counter() - t1
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
        self._original = None
        self._preview_jpeg = None


# formats whose header gives the size as displayed up to a quarter turn (a camera RAW's first image may be its
# small embedded thumbnail: a RAW is always given a preview)
_HEADER_SIZED = ("jpeg", "png", "webp", "gif", "heic", "heif", "tiff")


def _is_missing(e: Exception) -> bool:
    from pva.infra.storage import NotFound

    return isinstance(e, NotFound)


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

    def after_store(self, media: dict, results) -> None:
        """Called once :meth:`store`'s transaction has committed (not when it rolled back): remove what the stored
        results no longer name (a task whose objects are replaced by a rerun).  Default: nothing."""


def _load_media(media_id, owner_id=None) -> dict | None:
    """The media row; with owner_id only when that user owns it."""
    with db.transaction() as cur:
        return media_q.get(cur, media_id, owner_id)


def _drop_if_purged(media_id) -> None:
    """A job whose item was purged while it ran cannot store its results (its job row went with the item), but it
    may have put objects already (a web preview, face crops, an analysis preview), after the purge deleted what
    was under "<media id>/" in the thumbs bucket: when the item is gone, they go too.  A job lost to another
    worker leaves them alone (that worker writes the same keys)."""
    from pva.infra.storage import get_storage

    try:
        if _load_media(media_id) is not None:
            return
        st, bucket = get_storage(), get_settings().bucket_thumbs
        for o in st.list(bucket, f"{media_id}/", recursive=True):
            st.delete(bucket, o.key)
            log.info("deleted an object of a job whose item was purged", extra={"media_id": str(media_id),
                                                                                 "key": o.key})
    except Exception as e:  # garbage in the thumbs bucket harms nothing; the job's own error is what matters
        log.warning("could not clean up after a job whose item was purged",
                    extra={"media_id": str(media_id), "error": str(e)})


def run_stored(task: Task, media_id, force: bool = False) -> tuple[str, Any]:
    """Claim and run the job for stored media.  Returns (outcome, results or None)."""
    box: dict = {}

    def work(job: jobs.Job) -> None:
        m = getattr(job, "media", None) or _load_media(job.media_id)
        if m is None:
            raise BadInput(f"media {job.media_id} no longer exists")
        if not task.applies_to(m):  # one guard for every task, before anything is downloaded
            raise BadInput(task.not_applicable(m["kind"]))
        inputs = Inputs(m, [])
        t0 = time.perf_counter()
        try:
            results = task.analyze(inputs, job)
        finally:
            inputs.cleanup()
        t1 = time.perf_counter()
        try:
            with job.finishing(task.model_name, task.model_version, task.summary(results)) as cur:
                task.store(cur, m, results)
        except Exception:
            _drop_if_purged(m["id"])
            raise
        task.after_store(m, results)
        t2 = time.perf_counter()
        box["results"] = results
        # where a job's time goes (bench/library.py sums these lines): fetching, decoding, the model, storing
        fetch, decode = inputs.timings["download"], inputs.timings["decode"]
        log.info("analysis timings", extra={
            "kind": task.kind, "media_id": str(m["id"]), "download_s": round(fetch, 4),
            "decode_s": round(decode, 4), "model_s": round(max(0.0, t1 - t0 - fetch - decode), 4),
            "store_s": round(t2 - t1, 4)})

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
    run_at_priority(task.kind)
    t0 = time.perf_counter()
    outcome, _ = run_stored(task, media_id)
    context.logger.info_with("analysis", kind=task.kind, media_id=str(media_id), outcome=outcome,
                             seconds=round(time.perf_counter() - t0, 3))
    return {"media_id": str(media_id), "kind": task.kind, "outcome": outcome}


_niceness_set = False


def run_at_priority(kind: str) -> int | None:
    """Lower this process's CPU priority to the kind's (pva.jobs.PRIORITY_NICE), once per process: the queue
    workers of OCR and transcription yield the CPU to ingest, then to detect and faces, so a new library is
    browsable first and searchable by objects and people soon; nothing waits while a core is free.  HTTP
    requests (someone waiting for the answer) keep the normal priority.  Returns the niceness, None if unchanged."""
    global _niceness_set
    if _niceness_set:
        return None
    _niceness_set = True
    target = jobs.PRIORITY_NICE.get(kind, max(jobs.PRIORITY_NICE.values()))
    try:
        now = os.nice(0)
        return os.nice(target - now) if target > now else None
    except OSError as e:  # not allowed here (a restricted container): the work still runs
        log.warning("could not lower the worker's priority", extra={"kind": kind, "error": str(e)})
        return None


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
