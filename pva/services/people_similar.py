"""People from faces, step 3: similar faces, to one of the owner's faces, to an embedding or to an uploaded photo.

Searched in the owner's library only, through the HNSW index (pgvector ``<->``), falling back to an exact scan
of the owner's faces when the index's candidates do not hold enough of the owner's faces.  A photo's face is
found and encoded by the dlib wrapper (pva.ml.faces), loaded once per process here, never by the gateway.
"""
from __future__ import annotations

import threading

from pva.infra import db
from ..db import people as people_q
from .people_match import face_threshold

#: photos decoded at once for similar-face queries in one process: a decode holds up to the pixel limit in memory
#: (PNG and other formats cannot be decoded at a reduced scale), so a burst of queries waits here instead of
#: multiplying that memory in the gateway
QUERY_DECODE_SLOTS = 2
QUERY_WAIT_SECONDS = 30
_query_slots = threading.BoundedSemaphore(QUERY_DECODE_SLOTS)


class Busy(RuntimeError):
    """Every decode slot stayed taken for QUERY_WAIT_SECONDS: answer 503 and let the client retry."""


# hnsw.ef_search for similar-face queries (bench/faces.py --n 1000000: recall@10 against latency).  100 met the
# 0.95 recall aim on one generation (0.960) and missed it on another (0.9475, one core busy); 200 held it on both
# (0.970 and 0.9625) at p95 17.7 and 10.7 ms, under the 20 ms aim.
DEFAULT_EF_SEARCH = 200


# ------------------------------------------------------------------ similar faces
def _similar(owner_id, embedding, k: int, exclude_face_id: int, threshold: float, ef_search: int | None,
             exact: bool) -> list[dict] | None:
    """Nearest faces to `embedding`, or to the owner's face `exclude_face_id` when embedding is None (None when
    that face is not theirs)."""
    if not 1 <= int(k) <= 1000:
        raise ValueError(f"k={k}: ask for between 1 and 1000 faces")
    ef = DEFAULT_EF_SEARCH if ef_search is None else int(ef_search)
    with db.transaction() as cur:
        if embedding is None:
            face = people_q.get_face(cur, exclude_face_id, owner_id)
            if face is None:
                return None
            embedding = face["embedding"]
        rows: list[dict] = []
        if not exact:
            rows = people_q.similar_ann(cur, owner_id, embedding, k, max(ef, 2 * k), exclude_face_id)
            if len(rows) < k and max(ef, 2 * k) < people_q.EF_SEARCH_MAX:
                # the owner holds a small share of all faces: widen the candidate list once
                rows = people_q.similar_ann(cur, owner_id, embedding, k, people_q.EF_SEARCH_MAX, exclude_face_id)
        if exact or len(rows) < k:
            rows = people_q.similar_exact(cur, owner_id, embedding, k, exclude_face_id)
    for r in rows:
        r["distance"] = float(r["distance"])
        r["same_person"] = r["distance"] < threshold
    return rows


def similar_faces(owner_id, face_id: int, k: int = 10, *, threshold: float | None = None,
                  ef_search: int | None = None, exact: bool = False) -> list[dict] | None:
    """The k faces nearest to one of the owner's faces, across the owner's library (itself excluded), nearest
    first, each with ``distance`` (L2) and ``same_person`` (distance < threshold).  None: no such face of theirs."""
    return _similar(owner_id, None, k, int(face_id), face_threshold(threshold), ef_search, exact)


def similar_to_embedding(owner_id, embedding, k: int = 10, *, threshold: float | None = None,
                         ef_search: int | None = None, exact: bool = False) -> list[dict]:
    return _similar(owner_id, embedding, k, -1, face_threshold(threshold), ef_search, exact)


def similar_to_image(owner_id, image, k: int = 10, *, engine=None, threshold: float | None = None) -> dict:
    """Faces in the owner's library like the (largest) face in an uploaded photo.

    The photo passes the one pixel limit of every entry point (read from its header before any decode) and a
    JPEG is decoded at a reduced scale (DCT scaling) to the size the face detector works at, so a 14000 x 14000
    JPEG costs a 1750 x 1750 decode (other formats are shrunk right after decoding); at most QUERY_DECODE_SLOTS
    photos are decoded at once per process.
    Raises pva.errors.BadInput when the upload is not an image, is too large or holds no face, Busy when the
    decode slots stay taken."""
    from ..errors import BadInput
    from ..media.image import load_image

    engine = engine or _engine()
    side = int(getattr(engine, "detect_max_side", 0) or 1600)
    if not _query_slots.acquire(timeout=QUERY_WAIT_SECONDS):
        raise Busy("the server is busy decoding other photos: retry in a few seconds")
    try:
        # shrunk to the detector's size before the RGB conversion: a PNG (no reduced-scale decode) costs its
        # decoded size once, not three more copies
        found = engine.detect(load_image(image, max_side=side, rgb=True))
    finally:
        _query_slots.release()
    if not found:
        raise BadInput("no face found in the uploaded photo: upload a photo where one face is clearly visible")
    q = found[0]
    return {"query_box": list(q.box), "faces_in_upload": len(found),
            "results": similar_to_embedding(owner_id, q.embedding, k, threshold=threshold)}


_ENGINE = None


def _engine():
    global _ENGINE
    if _ENGINE is None:
        from ..ml.faces import FaceEngine

        _ENGINE = FaceEngine()
    return _ENGINE


