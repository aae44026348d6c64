"""The near-duplicate threshold, measured on the real fixture photos (issue 21): every resized, recompressed,
slightly cropped or edited copy is within pva.media.phash.NEAR bits of its photo (hashed as ingest hashes it: from
the grid thumbnail), every different shot of the same scene and every other photo is beyond it.

Run with -s to see the table of distances (quoted in the report of issue 21)."""
from __future__ import annotations

import itertools

import pytest

from conftest import shared_path
from duplicates_fixtures import copies, displayed, other_shots

EXCLUDE = ("invalid", "corrupted", "35-empty", "orientation")  # broken files; the orientation set is one picture


def fixture_photos() -> list:
    root = shared_path("fixtures")
    return [p for p in sorted(root.rglob("*")) if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".heic", ".tiff")
            and not any(x in str(p) for x in EXCLUDE)]


def ingest_hash(src) -> int:
    """The hash ingest stores: of the grid thumbnail make_thumbnails encodes (orientation applied)."""
    from pva import media
    from pva.media import phash as ph

    return ph.phash_jpeg(media.make_thumbnails(src, sizes={"thumb": 256, "preview": 1440})["thumb"])


@pytest.fixture(scope="module")
def measured():
    from pva.media import phash as ph

    photos = fixture_photos()
    if len(photos) < 5:
        pytest.skip("too few fixture photos under ../shared/fixtures")
    base, same, other = {}, {}, {}
    for p in photos:
        h = base[p.name] = ingest_hash(p)
        im = displayed(p)
        for name, v in copies(im).items():
            same.setdefault(name, []).append(ph.distance(h, ingest_hash(v)))
        for name, v in other_shots(im).items():
            other.setdefault(name, []).append(ph.distance(h, ingest_hash(v)))
    between = [ph.distance(base[a], base[b]) for a, b in itertools.combinations(base, 2)]
    print(f"\nNEAR = {ph.NEAR} bits; {len(photos)} fixture photos")
    for name, ds in {**same, **other, "other fixture photos": between}.items():
        print(f"  {name:22s} min {min(ds):2d}  max {max(ds):2d}  mean {sum(ds) / len(ds):4.1f}")
    return same, other, between


def test_resized_recompressed_cropped_and_edited_copies_are_within_the_threshold(measured):
    from pva.media.phash import NEAR

    same, _, _ = measured
    too_far = {name: max(ds) for name, ds in same.items() if max(ds) > NEAR}
    assert not too_far, f"copies beyond {NEAR} bits: {too_far}"


def test_different_shots_of_the_same_scene_are_beyond_the_threshold(measured):
    from pva.media.phash import NEAR

    _, other, _ = measured
    too_near = {name: min(ds) for name, ds in other.items() if min(ds) <= NEAR}
    assert not too_near, f"different shots within {NEAR} bits: {too_near}"


def test_different_photos_are_far_beyond_the_threshold(measured):
    from pva.media.phash import NEAR

    _, _, between = measured
    assert min(between) > 2 * NEAR


def test_the_same_picture_in_all_eight_exif_orientations_hashes_alike():
    from pva.media import phash as ph

    root = shared_path("fixtures", "exif-samples", "jpg", "orientation")
    hashes = [ingest_hash(p) for p in sorted(root.glob("landscape_*.jpg"))]
    assert len(hashes) == 8
    assert max(ph.distance(a, b) for a, b in itertools.combinations(hashes, 2)) <= ph.NEAR


def test_distance_and_bit_text_round_trip():
    from pva.media import phash as ph

    h = 0xF0F0_0000_FFFF_1234
    assert ph.from_bits(ph.to_bits(h)) == h and len(ph.to_bits(h)) == 64
    assert ph.distance(h, h ^ 0b1011) == 3
    assert ph.chunks(h) == [0xF0F0, 0x0000, 0xFFFF, 0x1234]
    assert len(set(ph.chunk_neighbours(0x1234, 2))) == 1 + 16 + 120
