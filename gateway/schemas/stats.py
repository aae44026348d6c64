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


class Month(BaseModel):
    month: str
    n: int
