"""`pva duplicates hash [--owner USER]`: the perceptual hash of items ingested before near-duplicates existed
(from their stored thumbnails and keyframes), and their near-duplicate pairs, with a progress bar (issue 21).
`pva duplicates list [--owner USER]`: the groups, as the Duplicates page shows them."""
from __future__ import annotations

from ._common import fail, group, progress_bar


def register(sub) -> None:
    _p, dsub = group(sub, "duplicates", "near-duplicate photos and videos (perceptual hashes)",
                     "duplicates_command")
    h = dsub.add_parser("hash", help="hash the items that have no perceptual hash yet (a library from before "
                                     "near-duplicates) and record their near-duplicate pairs")
    h.add_argument("--owner", metavar="USER", help="only this user's items (default: everyone's)")
    h.add_argument("--no-progress", action="store_true", help="no progress bar")
    h.set_defaults(func=_hash)
    ls = dsub.add_parser("list", help="print a user's near-duplicate groups (JSON lines)")
    ls.add_argument("--owner", metavar="USER", required=True)
    ls.set_defaults(func=_list)


def _owner(name: str | None, command: str):
    from pva.services.ingest import resolve_owner

    if not name:
        return None
    try:
        return resolve_owner(name)
    except LookupError:
        raise SystemExit(fail(f"pva duplicates {command}: no user {name!r} (see `pva users list`)", 2)) from None


def _hash(args) -> int:
    import time

    from pva.services import duplicates

    owner = _owner(args.owner, "hash")
    t0 = time.perf_counter()
    with progress_bar("hash", args.no_progress) as progress:
        try:
            out = duplicates.hash_existing(owner["id"] if owner else None, progress=progress)
        except Exception as e:  # the database or the object store: say which, not a traceback
            return fail(f"pva duplicates hash: {e}")
    print(f"{out['hashed']} item(s) hashed in {time.perf_counter() - t0:.1f} s, {out['pairs']} near-duplicate "
          f"pair(s) found" + (f", {out['failed']} without a readable thumbnail" if out["failed"] else ""))
    return 1 if out["failed"] and not out["hashed"] else 0


def _list(args) -> int:
    import json

    from pva.services import duplicates

    owner = _owner(args.owner, "list")
    ans = duplicates.groups(owner["id"])
    for g in ans["groups"]:
        print(json.dumps({"group": str(g["id"]), "best": str(g["best_id"]),
                          "items": [{"id": str(i["id"]), "path": i["original_path"], "width": i["width"],
                                     "height": i["height"], "size": i["size"], "distance": i["distance"]}
                                    for i in g["items"]]}))
    print(f"{ans['total_groups']} group(s), {ans['total_items']} item(s)")
    return 0
