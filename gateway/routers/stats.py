"""Library statistics."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from pva.services import stats

from ..deps import Principal, current_user

router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get("/stats")
def library_stats(user: Principal = Depends(current_user)):
    """Totals (with and without GPS, storage used), media per month, per camera, format, kind and label."""
    return stats.library(user.user_id)


@router.get("/stats/timeline")
def timeline(user: Principal = Depends(current_user)):
    """Media per month by date taken."""
    return stats.timeline(user.user_id)
