"""Perceptual hash (64-bit DCT pHash) of a photo or a video frame, for near-duplicates (issue 21).

The image is brought to 32x32 grey, its 2-D DCT taken (two products with a precomputed DCT-II matrix: no scipy),
and the 8x8 lowest frequencies compared with their median: one bit each, row by row, the first bit the most
significant.  A resized, recompressed, slightly cropped or brightened copy lands within a few bits; the measured
threshold is ``NEAR`` (tests/test_duplicates_threshold.py).

Ingest hashes the grid thumbnail it has just encoded (a ~256 px JPEG, decoded here at 1/4 or 1/8 scale by the JPEG
decoder itself), so hashing costs well under a millisecond and never decodes the original again.

Pure functions, no I/O beyond the bytes or image handed in.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

SIZE = 32  # the grey image the DCT is taken of
LOW = 8  # the LOW x LOW lowest frequencies make the 64 bits
BITS = LOW * LOW
# Hamming distance at or below which two hashes are near-duplicates.  Measured on the fixture photos
# (tests/test_duplicates_threshold.py): resized (<= 4 bits), recompressed (<= 4), cropped 2-3 % each side (<= 8)
# or 4 % off one side (<= 10), brightness/contrast edited (<= 6) copies are within it; the same scene panned
# 10 % (>= 12) or zoomed 20 % (>= 14) and different photos (>= 22) are beyond it.  Borderline, not tested: a 15 %
# zoom (10-22) or an 8 % pan (6-16).  Distances are even (the median splits the 64 bits 32/32).
NEAR = 10
CHUNKS = 4  # the lookup index splits the hash in 4 chunks of 16 bits (multi-index hashing, migration 010)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m.astype(np.float64)


_DCT = _dct_matrix(SIZE)
_DCT_LOW = _DCT[:LOW]  # only the rows that give the kept frequencies
_WEIGHTS = (1 << np.arange(BITS - 1, -1, -1, dtype=np.uint64)).astype(np.uint64)


def phash_image(im: Image.Image) -> int:
    """The 64-bit pHash (an unsigned int) of a PIL image as it is displayed (orientation already applied)."""
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    grey = im.convert("L") if im.mode != "L" else im
    if grey.size != (SIZE, SIZE):
        grey = grey.resize((SIZE, SIZE), Image.Resampling.BOX if min(grey.size) >= 2 * SIZE
                           else Image.Resampling.BILINEAR)
    a = np.asarray(grey, dtype=np.float64)
    low = (_DCT_LOW @ a @ _DCT_LOW.T).ravel()
    bits = low > np.median(low)
    return int((bits.astype(np.uint64) * _WEIGHTS).sum())


def phash_jpeg(data: bytes) -> int:
    """The pHash of a JPEG (a thumbnail ingest made), decoded by DCT scaling at the smallest size >= 32 px."""
    with Image.open(io.BytesIO(data)) as im:
        if im.format == "JPEG":
            im.draft("L", (SIZE, SIZE))
        im.load()
        return phash_image(im)


def distance(a: int, b: int) -> int:
    """Hamming distance between two hashes."""
    return (a ^ b).bit_count()


def to_bits(h: int) -> str:
    """The hash as Postgres bit(64) text ('0101...')."""
    return format(h & ((1 << BITS) - 1), f"0{BITS}b")


def from_bits(s: str) -> int:
    return int(s, 2)


def to_hex(h: int) -> str:
    return format(h, "016x")


def chunks(h: int) -> list[int]:
    """The four 16-bit chunks, most significant first (what the lookup indexes of migration 010 hold)."""
    return [(h >> (48 - 16 * i)) & 0xFFFF for i in range(CHUNKS)]


def chunk_neighbours(c: int, radius: int) -> list[int]:
    """Every 16-bit value within ``radius`` bits of ``c`` (1 + 16 + 120 values for radius 2)."""
    out = [c]
    if radius >= 1:
        out += [c ^ (1 << i) for i in range(16)]
    if radius >= 2:
        out += [c ^ (1 << i) ^ (1 << j) for i in range(16) for j in range(i + 1, 16)]
    if radius >= 3:
        raise ValueError("radius above 2 is not supported (too many probes)")
    return out
