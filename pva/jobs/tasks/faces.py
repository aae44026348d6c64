"""The faces function's Task: face boxes and 128-d embeddings in photos and video keyframes, grouped into people.

    task = FacesTask()                           # loads dlib's models once
    outcome, results = pipeline.run_stored(task, media_id)

A video contributes one face per person: its keyframes' faces are grouped by the same-person threshold, the best
of each group (the largest box, then the detector's score) is kept with the time ranges in which that person
appears (``time_ranges``: [[start, end], ...] seconds, consecutive keyframes joined), so eight keyframes of one man
are one face "0:03–0:09", not eight.

Storing (inside the job-finishing transaction) puts each face's crop thumbnail in the thumbs bucket at
``<media_id>/faces/<n>.jpg``, replaces the media's faces and assigns them to people (pva.services.people_match).
Posted bytes (HTTP) are analysed without storing; embeddings are left out of the JSON unless asked for
(``?embeddings=1`` or ``{"media_id": ..., "embeddings": true}``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ...services import people_match
from ...ml.faces import Face, FaceEngine, face_distances
from ...media.image import load_image
from ..pipeline import Inputs, Task

log = logging.getLogger("pva.analysis.faces")

NO_KEYFRAMES = "video has no keyframes (ingest could not decode a frame); re-ingest the file to retry"


def crop_key(media_id, n: int) -> str:
    return f"{media_id}/faces/{n}.jpg"


@dataclass
class FacesResults:
    items: list[tuple[float | None, Face]] = field(default_factory=list)  # (video_time, face)
    frames: int = 1
    skipped_reason: str | None = None
    stored: list[dict] | None = None  # after store: id, person_id, person_locked, crop_key, new_person
    ranges: list[list[list[float]]] | None = None  # a video: each item's time ranges (parallel to items)
    keyframe_faces: int | None = None  # a video: the faces found in all keyframes before grouping


def _time_ranges(seen: list[float], times: list[float]) -> list[list[float]]:
    """The keyframe times a person is seen at as ranges: keyframes in a row (in `times`, all keyframes) join."""
    index = {t: i for i, t in enumerate(times)}
    out: list[list[float]] = []
    last = None
    for t in sorted(seen):
        if out and last is not None and index[t] == last + 1:
            out[-1][1] = t
        else:
            out.append([t, t])
        last = index[t]
    return out


def group_video_faces(items: list[tuple[float, Face]], times: list[float], threshold: float
                      ) -> tuple[list[tuple[float, Face]], list[list[list[float]]]]:
    """One face per person of a video: a keyframe's face joins the group with the nearest member closer than
    `threshold` (never a group already seen in that keyframe: one person appears once per image), else starts a
    group.  Returns the best face of each group (largest box, then score) and each group's time ranges."""
    groups: list[dict] = []
    for t, f in sorted(items, key=lambda tf: tf[0]):
        best, best_d = None, threshold
        for g in groups:
            if t in g["times"]:
                continue
            d = float(face_distances(f.embedding, [m.embedding for _, m in g["faces"]]).min())
            if d < best_d:
                best, best_d = g, d
        if best is None:
            best = {"faces": [], "times": set()}
            groups.append(best)
        best["faces"].append((t, f))
        best["times"].add(t)
    kept = [max(g["faces"], key=lambda tf: (tf[1].box[2] * tf[1].box[3], tf[1].score)) for g in groups]
    return kept, [_time_ranges(list(g["times"]), times) for g in groups]


def _truthy(v) -> bool:
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    return str(v).strip().lower() in ("1", "true", "yes", "on")


class FacesTask(Task):
    kind = "faces"
    media_kinds = ("photo", "video")

    def __init__(self, engine: FaceEngine | None = None):
        self.engine = engine or FaceEngine()
        self.model = self.engine

    # ------------------------------------------------------------------ analyse
    def analyze(self, inputs: Inputs, job) -> FacesResults:
        # a photo's analysis preview (pva.jobs.ANALYSIS_PREVIEW_PX: more than the face detector's side), a video's
        # keyframes; never bigger than what the engine encodes from
        frames = inputs.images(max_side=getattr(self.engine, "encode_max_side", None) or None)
        if inputs.kind == "video" and not frames:
            return FacesResults([], 0, NO_KEYFRAMES)
        items: list[tuple[float | None, Face]] = []
        for i, (t, img) in enumerate(frames):
            items += [(t, f) for f in self.engine.detect(img)]
            if job is not None and len(frames) > 1:
                job.progress((i + 1) / len(frames))
        if inputs.kind == "video":
            kept, ranges = group_video_faces(items, [t for t, _ in frames], people_match.face_threshold())
            return FacesResults(kept, len(frames), ranges=ranges, keyframe_faces=len(items))
        return FacesResults(items, len(frames))

    def analyze_bytes(self, data: bytes, content_type: str) -> FacesResults:
        # posted bytes decode like stored photos: a JPEG at reduced scale, never beyond what the engine encodes
        img = load_image(data, max_side=getattr(self.engine, "encode_max_side", None) or None, rgb=True)
        return FacesResults([(None, f) for f in self.engine.detect(img)])

    # ------------------------------------------------------------------ results
    def to_json(self, results: FacesResults, embeddings: bool = False) -> list[dict]:
        out = []
        for i, (t, f) in enumerate(results.items):
            x, y, w, h = f.box
            d: dict[str, Any] = {"box": {"x": round(x, 5), "y": round(y, 5), "w": round(w, 5), "h": round(h, 5)},
                                 "score": round(f.score, 4), "video_time": t}
            if results.ranges is not None:
                d["time_ranges"] = results.ranges[i]
            if results.stored is not None and i < len(results.stored):
                s = results.stored[i]
                d.update(id=s["id"], person_id=str(s["person_id"]) if s["person_id"] else None,
                         person_locked=s["person_locked"], crop_key=s["crop_key"])
            if embeddings:
                d["embedding"] = [round(float(v), 6) for v in f.embedding]
            out.append(d)
        return out

    def to_http_json(self, results: FacesResults, options: dict) -> list[dict]:
        """As to_json, without the crops' storage keys: those never leave the server (the gateway serves a crop
        at /api/v1/faces/<id>/crop to whoever may see it)."""
        out = self.to_json(results, embeddings=_truthy(options.get("embeddings", "")))
        for d in out:
            d.pop("crop_key", None)
        return out

    def summary(self, results: FacesResults) -> dict[str, Any]:
        out: dict[str, Any] = {"count": len(results.items)}
        if results.frames != 1:
            out["frames"] = results.frames
        if results.keyframe_faces is not None:
            out["keyframe_faces"] = results.keyframe_faces
        if results.skipped_reason:
            out["skipped_reason"] = results.skipped_reason
        return out

    def store(self, cur, media: dict, results: FacesResults) -> None:
        from ...config import get_settings
        from pva.infra.storage import get_storage

        bucket = get_settings().bucket_thumbs
        st = get_storage()
        new_faces = []
        for n, (t, f) in enumerate(results.items):
            key = crop_key(media["id"], n)
            st.put(bucket, key, f.crop, content_type="image/jpeg")
            new_faces.append(people_match.NewFace(box=f.box, embedding=f.embedding, video_time=t, crop_key=key,
                                                  time_ranges=None if results.ranges is None else results.ranges[n]))
        results.stored = people_match.replace_media_faces(cur, media, new_faces, self.model_name,
                                                           self.model_version)
        # crops of a previous run that found more faces
        prefix = f"{media['id']}/faces/"
        for obj in st.list(bucket, prefix, recursive=True):
            stem = obj.key[len(prefix):].split(".", 1)[0]
            if not stem.isdigit() or int(stem) >= len(results.items):
                try:
                    st.delete(bucket, obj.key)
                except Exception as e:  # a stale thumbnail is harmless; never fail the job for it
                    log.warning("could not delete a stale face crop", extra={"key": obj.key, "error": str(e)})


__all__ = ["FacesTask", "FacesResults", "NO_KEYFRAMES", "crop_key", "group_video_faces"]
