"""Near-duplicates (issue 21): the owner's groups, "keep the best, trash the rest" per group or for all, and "not
duplicates".  Nothing is deleted: the others go to the trash, restorable there.  Group ids are the owner's own:
anything else answers 404."""
from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends

from pva.services import duplicates

from ..deps import Principal, current_user
from ..schemas.duplicates import ResolveIn

router = APIRouter(prefix="/api/v1", tags=["duplicates"])


@router.get("/duplicates")
def list_duplicates(user: Principal = Depends(current_user)):
    """The caller's near-duplicate groups (items out of the trash), newest first, the best of each first."""
    return duplicates.groups(user.user_id)


@router.post("/duplicates/resolve-all")
def resolve_all(user: Principal = Depends(current_user)):
    """Keep the best of every group and move the others to the trash."""
    return duplicates.resolve_all(user.user_id)


@router.post("/duplicates/{group_id}/resolve")
def resolve(group_id: UUID, body: ResolveIn | None = None, user: Principal = Depends(current_user)):
    """Keep one item of the group (the best unless `keep` says) and move the others to the trash."""
    return duplicates.resolve(user.user_id, group_id, body.keep if body else None, body.media_ids if body else None)


@router.post("/duplicates/{group_id}/dismiss")
def dismiss(group_id: UUID, user: Principal = Depends(current_user)):
    """"Not duplicates": the group is remembered as such and not shown again."""
    return duplicates.dismiss(user.user_id, group_id)
