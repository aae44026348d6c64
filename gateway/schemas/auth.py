"""Auth request and response models."""
from __future__ import annotations

from datetime import datetime
from typing import Literal
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


class LoginIn(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class LoginOut(BaseModel):
    user: User
    csrf_token: str
    expires_at: datetime


class TokenIn(BaseModel):
    name: str = Field(default="", max_length=200)
    scopes: list[str] = Field(default_factory=lambda: ["read"])
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="shown once; store it now")


class UserIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    is_admin: bool = False
    display_name: str = Field(default="", max_length=200)


class PasswordChangeIn(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024, description="at least 8 characters")


class PasswordResetIn(BaseModel):
    password: str = Field(max_length=1024, description="at least 8 characters")


class UserPatch(BaseModel):
    """Only the fields sent change."""
    is_admin: bool | None = None
    disabled: bool | None = Field(default=None, description="a disabled user cannot log in; their tokens stop working")
    display_name: str | None = Field(default=None, max_length=200)
