"""Common request and response models."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every error the gateway answers (4xx and 5xx) has this body (gateway.app.error_response)."""

    error: str = Field(description="a short, stable code: unauthorized, forbidden, not_found, invalid_request, ...",
                       examples=["not_found"])
    message: str = Field(description="what happened and what to do about it, for people",
                         examples=["no such media"])


class Status(BaseModel):
    status: str = Field(examples=["ok"])


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="per service (db, s3, amqp): 'ok' or the error")
