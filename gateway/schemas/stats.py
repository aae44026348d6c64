"""Stats request and response models."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field


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
