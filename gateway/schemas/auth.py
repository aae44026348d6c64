"""Auth request and response models."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field


class User(BaseModel):
    id: UUID
    username: str
    display_name: str = ""
    is_admin: bool
    disabled: bool = False
    created_at: datetime | None = None


class Me(BaseModel):
    user: User
    scopes: list[str]
    auth: Literal["api", "session"]
