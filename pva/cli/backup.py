"""`pva backup DEST`, `pva restore SRC`, `pva check [--quick] [--repair]` (behaviour in pva/services)."""
from __future__ import annotations

from ._common import fail


def register(sub) -> None:
    def s3_options(p):
        p.add_argument("--s3-endpoint", help="endpoint of an s3:// backup (default: PVA_BACKUP_S3_ENDPOINT, "
                                             "else the library's own S3)")
        p.add_argument("--s3-access-key", help="access key of an s3:// backup (default: PVA_BACKUP_S3_ACCESS_KEY)")
        p.add_argument("--s3-secret-key", help="secret key of an s3:// backup (default: PVA_BACKUP_S3_SECRET_KEY)")
        p.add_argument("--jobs", type=int, default=4, help="objects copied in parallel (default 4)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("backup", help="back up the database and every object it references (incremental)")
    p.add_argument("dest", help="a folder, or s3://bucket/prefix")
    s3_options(p)
    p.set_defaults(func=_backup)

    p = sub.add_parser("restore", help="restore a backup onto an empty stack (empty database and buckets)")
    p.add_argument("src", help="the backup: a folder, or s3://bucket/prefix")
    s3_options(p)
    p.add_argument("--run", help="restore an earlier run (a name from the backup's manifests/; default: the latest)")
    p.add_argument("--no-verify", action="store_true", help="skip re-reading every restored original")
    p.set_defaults(func=_restore)

    p = sub.add_parser("check", help="every media row has its original (size, SHA-512); report orphan objects")
    p.add_argument("--quick", action="store_true", help="compare sizes only (no reading of the objects)")
    p.add_argument("--repair", action="store_true",
                   help="move orphan objects to lost+found/ in the originals bucket (nothing is deleted)")
    p.add_argument("--from", dest="repair_from", metavar="BACKUP",
                   help="with --repair: put missing or changed originals back from this backup (a folder or "
                        "s3://bucket/prefix; changed bytes are kept in lost+found/)")
    p.add_argument("--grace", type=float, default=900, metavar="SECONDS",
                   help="objects younger than this are not judged orphans: an ingest may be under way (default 900)")
    p.add_argument("--jobs", type=int, default=4, help="objects read in parallel (default 4)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_check)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _backup(args) -> int:
    from pva.services.backup import backup
    from pva.services.backup_store import BackupError
    from pva.infra.storage import StorageError

    try:
        r = backup(args.dest, endpoint=args.s3_endpoint, access_key=args.s3_access_key,
                   secret_key=args.s3_secret_key, jobs=args.jobs, progress=not args.no_progress, console=_console())
    except (BackupError, StorageError) as e:
        return fail(f"pva backup: {e}")
    except OSError as e:  # the destination (disk full, unwritable): the previous backup is untouched
        return fail(f"pva backup: cannot write {args.dest}: {e}; the previous backup there is intact — fix this and "
                    "run the same command again (it goes on from what was copied)")
    rate = r.bytes_copied / r.seconds / 1e6 if r.seconds else 0.0
    print(f"backup {r.run} in {r.destination}: {r.objects} objects ({_mb(r.bytes_total)}), {r.copied} copied "
          f"({_mb(r.bytes_copied)}, {rate:.1f} MB/s), {r.skipped} already held; database dump {_mb(r.dump_bytes)}; "
          f"{r.seconds:.1f} s")
    for v in r.vanished:
        print(f"  vanished  {v['bucket']}/{v['key']} (media {v['media_id']}): deleted after the snapshot, or "
              "missing — run `pva check`")
    for c in r.corrupt:
        print(f"  CORRUPT   originals/{c['key']} (media {c['media_id']}): its bytes no longer match the SHA-512 "
              "recorded at ingest; not backed up — run `pva check` and restore it from an older backup")
    return 0 if r.ok else 1


def _restore(args) -> int:
    from pva.services.backup import restore
    from pva.services.backup_store import BackupError
    from pva.infra.storage import StorageError

    try:
        r = restore(args.src, run=args.run, endpoint=args.s3_endpoint, access_key=args.s3_access_key,
                    secret_key=args.s3_secret_key, jobs=args.jobs, verify=not args.no_verify,
                    progress=not args.no_progress, console=_console())
    except (BackupError, StorageError, OSError) as e:
        return fail(f"pva restore: {e}; once fixed, run the same command again: it goes on from what was restored")
    print(f"restored backup {r.run} from {r.source}: {r.objects} objects ({r.copied} copied, {r.already_there} "
          f"already there), database restored; {r.jobs_requeued} interrupted job(s) requeued, "
          f"{r.jobs_published} queued job(s) published; {r.seconds:.1f} s")
    if r.jobs_published < r.jobs_queued:
        print(f"  {r.jobs_queued - r.jobs_published} queued job(s) could not be published (is RabbitMQ up?); they stay "
              "queued: run `pva jobs reconcile` once it is")
    if r.faces_requeued:
        print(f"  {r.faces_requeued} faces analyses requeued (their face crops were not in the backup)")
    for v in r.not_in_backup:
        print(f"  not in the backup: {v['bucket']}/{v['key']} (media {v['media_id']})")
    if r.verify is not None:
        _print_check(r.verify)
    return 0 if r.ok else 1


def _check(args) -> int:
    from pva.services.backup_store import BackupError
    from pva.services.check import check
    from pva.infra.storage import StorageError

    try:
        if args.repair_from and not args.repair:
            return fail("pva check: --from BACKUP only applies with --repair", 2)
        r = check(quick=args.quick, repair=args.repair, repair_from=args.repair_from, grace_seconds=args.grace,
                  jobs=args.jobs,
                  progress=not args.no_progress, console=_console())
    except (StorageError, BackupError) as e:
        return fail(f"pva check: {e}")
    _print_check(r)
    return 0 if r.ok or (args.repair and not (r.missing or r.wrong_size or r.wrong_sha512)
                         and len(r.moved) == len(r.orphans)) else 1


def _print_check(r) -> None:
    how = "sizes" if r.quick else f"sizes and SHA-512 ({_mb(r.bytes_read)} read)"
    print(f"checked {r.media} media rows against {r.objects} objects in the originals bucket ({how}) "
          f"in {r.seconds:.1f} s")
    for m in r.missing:
        print(f"  MISSING      {m['key']} (media {m['media_id']}): restore it from a backup")
    for m in r.wrong_size:
        print(f"  WRONG SIZE   {m['key']} (media {m['media_id']}): {m['actual_size']} bytes, the row says "
              f"{m['size']}: restore it from a backup")
    for m in r.wrong_sha512:
        print(f"  WRONG SHA512 {m['key']} (media {m['media_id']}): the bytes changed since ingest: restore it from "
              "a backup")
    for m in r.restored:
        print(f"  RESTORED     {m['key']} (media {m['media_id']}) from the backup, its SHA-512 checked")
    for m in r.not_in_backup:
        print(f"  not in the backup either: {m['key']} (media {m['media_id']}): try an older backup")
    moved = dict(r.moved)
    for k in r.orphans:
        print(f"  ORPHAN       {k}: no media row names it" + (f"; moved to {moved[k]}" if k in moved else
                                                               " (`pva check --repair` moves it to lost+found/)"))
    for m in r.missing_sidecars[:20]:
        print(f"  no sidecar   {m['key']} (media {m['media_id']}): a thumbnail, preview, keyframe or face crop; the "
              "original is fine (re-run the item's analyses to remake face crops)")
    if len(r.missing_sidecars) > 20:
        print(f"  … and {len(r.missing_sidecars) - 20} more missing sidecar object(s)")
    if r.young_orphans:
        print(f"  {len(r.young_orphans)} recent object(s) without a row left alone (an ingest may be under way)")
    if r.in_lost_found:
        print(f"  {r.in_lost_found} object(s) in lost+found/")
    if r.ok:
        print("ok: every media row has its original, and every original has its row")
