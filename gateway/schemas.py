"""Response models shared by the routers and the OpenAPI document (gateway/openapi.py)."""
from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every error the gateway answers (4xx and 5xx) has this body (gateway.app.error_response)."""

    error: str = Field(description="a short, stable code: unauthorized, forbidden, not_found, invalid_request, ...",
                       examples=["not_found"])
    message: str = Field(description="what happened and what to do about it, for people",
                         examples=["no such media"])


__all__ = ["ErrorOut"]
