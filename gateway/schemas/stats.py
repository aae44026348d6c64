"""Stats request and response models."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Stats(BaseModel):
    totals: dict[str, int]
    trash: dict[str, int]
    timeline: list[dict[str, Any]]
    cameras: list[dict[str, Any]]
    formats: list[dict[str, Any]]
    kinds: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    countries: list[dict[str, Any]] = []  # {value: ISO code, name, n} (issue 21)
    cities: list[dict[str, Any]] = []     # {id, city, region, country, country_code, n}


class Month(BaseModel):
    month: str
    n: int
