"""`pva faces recluster [--owner USER] [--threshold T]`: regroup faces into people."""
from __future__ import annotations

from ._common import fail, group


def register(sub) -> None:
    _p, fsub = group(sub, "faces", "faces and people", "faces_command")
    rc = fsub.add_parser("recluster", help="regroup faces into people (chinese whispers); keeps names, hidden "
                                           "people and faces the user placed")
    rc.add_argument("--owner", metavar="USER", help="only this user's faces (default: every user with faces)")
    rc.add_argument("--threshold", type=float, help="same-person distance (default: PVA_FACE_THRESHOLD, 0.6)")
    rc.set_defaults(func=_recluster)


def _recluster(args) -> int:
    import json

    from pva.services import people as people_service
    from pva.services.ingest import resolve_owner

    try:
        if args.owner:
            try:
                user = resolve_owner(args.owner)
            except LookupError:
                return fail(f"pva faces recluster: no user {args.owner!r} (see `pva users list`)")
            reports = {user["username"]: people_service.recluster(user["id"], args.threshold)}
        else:
            reports = people_service.recluster_all(args.threshold)
    except ValueError as e:
        return fail(f"pva faces recluster: {e}")
    for name, rep in reports.items():
        print(json.dumps({"owner": name, **rep.as_dict()}))
    if not reports:
        print("no faces to recluster")
    return 0
