"""CLI subcommands of the analysis part: `pva models pull` (and, added by their owners, `faces recluster`,
`jobs reconcile`).  Each group has its own ``_register_<group>(sub)``; ``register`` calls them all."""
from __future__ import annotations

import sys


def register(sub) -> None:
    _register_models(sub)
    _register_faces(sub)
    # further groups (faces recluster, jobs reconcile) register here


# ---------------------------------------------------------------- models
def _register_models(sub) -> None:
    p = sub.add_parser("models", help="analysis models")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    pull = msub.add_parser("pull", help="download the YOLO detection model (sha256-verified) into the models dir")
    pull.add_argument("--url", help="model URL, http(s):// or file:// (default: PVA_DETECT_MODEL_URL)")
    pull.add_argument("--sha256", help="expected sha256 (default: PVA_DETECT_MODEL_SHA256)")
    pull.add_argument("--dest", help="directory or file to install into (default: PVA_MODELS_DIR)")
    pull.add_argument("--no-progress", action="store_true", help="no progress bar")
    pull.set_defaults(func=_models_pull)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _models_pull(args) -> int:
    from pva.config import get_settings

    from .models_pull import ModelDownloadError, pull_detect_model

    try:
        path = pull_detect_model(url=args.url, sha256=args.sha256, dest=args.dest, progress=not args.no_progress)
    except ModelDownloadError as e:
        print(f"pva models pull: {e}", file=sys.stderr)
        return 1
    print(f"installed {path}")
    found = get_settings().effective_detect_model
    if found is None or found.resolve() != path.resolve():
        print(f"note: the detector uses {found or 'no model'}; set PVA_DETECT_MODEL={path} to use this one",
              file=sys.stderr)
    return 0


# ---------------------------------------------------------------- faces
def _register_faces(sub) -> None:
    p = sub.add_parser("faces", help="faces and people")
    fsub = p.add_subparsers(dest="faces_command", metavar="ACTION")
    rc = fsub.add_parser("recluster", help="regroup faces into people (chinese whispers); keeps names, hidden "
                                           "people and faces the user placed")
    rc.add_argument("--owner", metavar="USER", help="only this user's faces (default: every user with faces)")
    rc.add_argument("--threshold", type=float, help="same-person distance (default: PVA_FACE_THRESHOLD, 0.6)")
    rc.set_defaults(func=_faces_recluster)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _faces_recluster(args) -> int:
    import json

    from pva import db, faces_service

    try:
        if args.owner:
            user = db.query_one("select id, username from users where username = %s", (args.owner,))
            if user is None:
                print(f"pva faces recluster: no user {args.owner!r} (see `pva users list`)", file=sys.stderr)
                return 1
            reports = {user["username"]: faces_service.recluster(user["id"], args.threshold)}
        else:
            reports = faces_service.recluster_all(args.threshold)
    except ValueError as e:
        print(f"pva faces recluster: {e}", file=sys.stderr)
        return 1
    for name, rep in reports.items():
        print(json.dumps({"owner": name, **rep.as_dict()}))
    if not reports:
        print("no faces to recluster")
    return 0
