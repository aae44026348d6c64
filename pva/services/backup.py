"""Backup and restore of a whole library: the database and every object it references.

    report = backup("/mnt/backup")                  # or "s3://bucket/prefix" (see backup_store.open_store)
    report = restore("/mnt/backup")                 # onto an empty stack

Consistency: one REPEATABLE READ transaction exports its snapshot; pg_dump dumps that snapshot and the list of
objects to copy is read in the same transaction, so the backup holds exactly the objects its dump references (an
object deleted after the snapshot is reported as vanished, not silently dropped).  Originals are copied after the
dump and verified against the SHA-512 their media row stores.  Objects are stored by content (backup_store), so a
second run copies only objects it does not hold yet, and a run that dies leaves the previous manifest — the one
restore reads — untouched; rerunning it skips the blobs it already wrote.

Restore puts the objects back first (checked against the manifest's SHA-512 while reading them), then restores the
database in one transaction (pg_restore --single-transaction), migrates it to this version's schema, requeues
jobs that were running, publishes queued ones, and finally re-reads every original from S3 to prove it is byte
identical to the manifest.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pva.infra import db
from ..config import get_settings
from ..db import backup as backup_q
from .backup_store import MANIFEST, BackupError, BlobMismatch, open_store
from .transfer import ByteProgress, VerifyingReader, list_quiet

log = logging.getLogger("pva.backup")

FORMAT = "pva-backup"
VERSION = 1
# thumbnails, previews, keyframes and face crops are small: read whole, hashed, then written
SIDECAR_MEMORY_LIMIT = 64 * 1024 * 1024


# ------------------------------------------------------------------ pg_dump / pg_restore
def pg_tool(name: str, server_major: int, embedded: bool | None = None) -> str:
    """The pg_dump/pg_restore to use against a server of `server_major`: for the embedded database pgserver's own
    (it ships the binaries of the server it embeds), for an external one the one on PATH; either way one at least
    as new as the server (pg_dump refuses an older client; a pg_restore must be at least as new as the pg_dump
    that wrote the archive), falling back to the other when the first is too old."""
    candidates = []
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:
        pass
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    if not (_is_embedded_database() if embedded is None else embedded):
        candidates.reverse()
    seen = []
    for c in candidates:
        if not c.is_file():
            continue
        major = _tool_major(c)
        seen.append(f"{c} ({major})")
        if major is not None and major >= server_major:
            return str(c)
    raise BackupError(
        f"no {name} of version {server_major} or newer (found: {', '.join(seen) or 'none'}); the database server "
        f"is PostgreSQL {server_major}: install its client tools (e.g. `apt install postgresql-client-{server_major}`) "
        f"and put their bin directory first on PATH")


def _is_embedded_database() -> bool:
    """Is the configured database on the server `pva up` started (its Unix socket directory)?"""
    from psycopg2.extensions import parse_dsn

    s = get_settings()
    embedded = s.stack_state().get("postgres", {}).get("url")
    try:
        return bool(embedded) and parse_dsn(s.effective_database_url).get("host") == parse_dsn(embedded).get("host")
    except Exception:  # an unparsable URL: pg_dump will say what is wrong with it
        return False


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(m.group(1)) if m else None


def _libpq(url: str | None = None) -> tuple[str, dict]:
    """(connection string without the password, environment with PGPASSWORD): a password in the command line
    would be readable by every user of the machine in the process list."""
    from psycopg2.extensions import make_dsn, parse_dsn

    env = dict(os.environ)
    env.pop("PGOPTIONS", None)
    if url is None:
        return "", env
    params = parse_dsn(url)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = password
    return make_dsn(**params), env


# ------------------------------------------------------------------ backup
@dataclass
class BackupReport:
    destination: str
    run: str
    objects: int = 0              # objects the backup holds (referenced by the dump)
    copied: int = 0               # written by this run
    skipped: int = 0              # already held (by content) from an earlier run
    bytes_total: int = 0
    bytes_copied: int = 0
    dump_bytes: int = 0
    seconds: float = 0.0
    vanished: list[dict] = field(default_factory=list)    # referenced by the dump, gone from S3 when copied
    corrupt: list[dict] = field(default_factory=list)     # original whose bytes do not match its row's SHA-512

    @property
    def ok(self) -> bool:
        return not self.corrupt and not any(v["bucket"] == "originals" for v in self.vanished)


def backup(dest: str, *, endpoint: str | None = None, access_key: str | None = None, secret_key: str | None = None,
           jobs: int = 4, progress: bool = True, console=None) -> BackupReport:
    store = open_store(dest, endpoint, access_key, secret_key)
    store.prepare()
    try:
        return _backup(store, jobs, progress, console)
    finally:
        store.close()


def _backup(store, jobs: int, progress: bool, console) -> BackupReport:
    from pva.infra.storage import get_storage

    st = get_storage()
    s = get_settings()
    t0 = time.perf_counter()
    run = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    rep = BackupReport(store.describe(), run)

    with tempfile.TemporaryDirectory(prefix="pva-backup-", dir=s.tmp_dir) as tmpdir:
        dump = Path(tmpdir) / "db.dump"
        refs, schema, server = _dump_snapshot(dump)
        dump_sha, rep.dump_bytes = _sha512_file(dump)
        store.put_file(f"db/{run}.dump", dump)

    prev = _read_manifest(store, required=False)
    prev_entries = {(o["bucket"], o["key"]): o for o in (prev or {}).get("objects", [])}
    held = store.blobs()
    buckets = {"originals": st.originals, "thumbs": st.thumbs}
    # sizes and ETags of the sidecars, in one listing: a sidecar unchanged since the last run is not read again
    listed = {o.key: (o.size, o.etag) for o in list_quiet(st, st.thumbs)}

    entries: list[dict] = []
    todo: list[dict] = []
    for r in refs:
        e = {"bucket": r["bucket"], "key": r["key"], "media_id": str(r["media_id"]), "mime": r["mime"]}
        if r["bucket"] == "originals":
            e.update(sha512=bytes(r["sha512"]).hex(), size=int(r["size"]))
            if held.get(e["sha512"]) == e["size"]:
                entries.append(e)
                continue
        else:
            size_etag = listed.get(r["key"])
            if size_etag is None:
                rep.vanished.append({"bucket": r["bucket"], "key": r["key"], "media_id": e["media_id"]})
                continue
            e.update(size=size_etag[0], etag=size_etag[1])
            old = prev_entries.get((r["bucket"], r["key"]))
            if (old and old.get("etag") == e["etag"] and old.get("size") == e["size"]
                    and held.get(old["sha512"]) == e["size"]):
                e["sha512"] = old["sha512"]
                entries.append(e)
                continue
        todo.append(e)
    rep.skipped = len(entries)

    def copy_one(e: dict) -> tuple[dict, int]:
        bucket = buckets[e["bucket"]]
        from pva.infra.storage import NotFound

        try:
            if e["bucket"] == "originals":
                with st.get_stream(bucket, e["key"]) as body:
                    n = store.write_blob(e["sha512"], body, body.length if body.length is not None else -1)
                return e, n
            if e["size"] > SIDECAR_MEMORY_LIMIT:
                raise BackupError(f"s3://{bucket}/{e['key']} is {e['size']} bytes: not a thumbnail")
            data = st.get_bytes(bucket, e["key"])
        except NotFound:
            return {**e, "vanished": True}, 0
        except BlobMismatch as m:
            return {**e, "corrupt": m.actual, "actual_size": m.size}, 0
        e = {**e, "sha512": hashlib.sha512(data).hexdigest(), "size": len(data)}
        if held.get(e["sha512"]) == len(data):  # a killed run wrote it, or the same picture under another key
            return {**e, "held": True}, len(data)
        store.write_blob(e["sha512"], io.BytesIO(data), len(data))
        return e, len(data)

    total = sum(e["size"] for e in todo)
    with ByteProgress("backing up", total, len(todo), progress, console) as bar, \
            cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futs = [pool.submit(copy_one, e) for e in todo]
        try:
            for fut in cf.as_completed(futs):
                e, n = fut.result()  # a failure to write the destination ends the run: no manifest is written
                bar.advance(n or e.get("size", 0))
                if e.get("vanished"):
                    rep.vanished.append({"bucket": e["bucket"], "key": e["key"], "media_id": e["media_id"]})
                elif e.get("corrupt"):
                    rep.corrupt.append({"key": e["key"], "media_id": e["media_id"], "expected": e["sha512"],
                                        "actual": e["corrupt"]})
                elif e.pop("held", False):
                    entries.append(e)
                    rep.skipped += 1
                else:
                    entries.append(e)
                    rep.copied += 1
                    rep.bytes_copied += n
        except BaseException:
            for f in futs:
                f.cancel()
            raise

    entries.sort(key=lambda e: (e["bucket"], e["key"]))
    rep.objects = len(entries)
    rep.bytes_total = sum(e["size"] for e in entries)
    manifest = {"format": FORMAT, "version": VERSION, "run": run,
                "created_at": datetime.now(timezone.utc).isoformat(), "schema_versions": schema,
                "server_version": server,
                "dump": {"path": f"db/{run}.dump", "sha512": dump_sha, "size": rep.dump_bytes},
                "buckets": {"originals": st.originals, "thumbs": st.thumbs},
                "objects": entries, "vanished": rep.vanished, "corrupt": rep.corrupt}
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    store.write_atomic(f"manifests/{run}.json", data)
    store.write_atomic(MANIFEST, data)  # last: from now on this is the backup restore reads
    rep.seconds = time.perf_counter() - t0
    log.info("backup written", extra={"destination": rep.destination, "objects": rep.objects,
                                      "copied": rep.copied, "bytes_copied": rep.bytes_copied})
    return rep


def _dump_snapshot(out: Path) -> tuple[list[dict], list[int], str]:
    """pg_dump of one exported snapshot, and the objects referenced in that same snapshot."""
    url = get_settings().effective_database_url
    with db.transaction() as cur:
        snapshot = backup_q.begin_snapshot(cur)
        major, version = backup_q.server_version(cur)
        tool = pg_tool("pg_dump", major)
        dsn, env = _libpq(url)
        proc = subprocess.Popen([tool, "--format=custom", f"--snapshot={snapshot}", "--no-owner",
                                 f"--file={out}", f"--dbname={dsn}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            refs = backup_q.referenced_objects(cur)
            schema = backup_q.schema_versions(cur)
        finally:
            # the exporting transaction stays open until pg_dump is done with the snapshot
            _, err = proc.communicate()
        if proc.returncode != 0:
            raise BackupError(f"pg_dump failed: {err.decode(errors='replace').strip()[-2000:]}")
    return refs, schema, version


def _read_manifest(store, required: bool = True, run: str | None = None) -> dict | None:
    """The latest manifest, or the one of an earlier `run` (blobs are never removed, so every run that finished
    stays restorable)."""
    rel = f"manifests/{run}.json" if run else MANIFEST
    if run and not re.fullmatch(r"[0-9A-Za-z.]+", run):
        raise BackupError(f"{run!r} is not a backup run name (like 20240501T020000.000000Z)")
    raw = store.read(rel)
    if raw is None:
        if required:
            raise BackupError(f"{store.describe()} holds no {rel}: " + (
                "no backup run of that name finished there (see manifests/ for the runs)" if run else
                "not a pva backup, or no backup run finished there (run `pva backup` again)"))
        return None
    m = json.loads(raw)
    if m.get("format") != FORMAT or m.get("version", 0) > VERSION:
        raise BackupError(f"{store.describe()}/{rel} is not a pva backup of version {VERSION} or older")
    return m


def _sha512_file(path: Path) -> tuple[str, int]:
    h, n = hashlib.sha512(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


# ------------------------------------------------------------------ restore
@dataclass
class RestoreReport:
    source: str
    run: str
    objects: int = 0
    copied: int = 0
    already_there: int = 0
    bytes_copied: int = 0
    seconds: float = 0.0
    jobs_requeued: int = 0
    jobs_queued: int = 0
    jobs_published: int = 0
    faces_requeued: int = 0
    not_in_backup: list[dict] = field(default_factory=list)   # what the backup itself reported as vanished
    verify: object | None = None                               # the check.CheckReport of the originals

    @property
    def ok(self) -> bool:
        return self.verify is None or self.verify.ok


def restore(src: str, *, run: str | None = None, endpoint: str | None = None, access_key: str | None = None,
            secret_key: str | None = None, jobs: int = 4, verify: bool = True, progress: bool = True,
            console=None) -> RestoreReport:
    from pva.infra.migrate import migrate
    from pva.infra.storage import get_storage

    store = open_store(src, endpoint, access_key, secret_key)
    # no lock and no writes: a backup may be read from read-only media, and blobs are never rewritten in place
    manifest = _read_manifest(store, run=run)
    st = get_storage()
    st.ensure_buckets()
    t0 = time.perf_counter()
    rep = RestoreReport(store.describe(), manifest["run"], objects=len(manifest["objects"]),
                        not_in_backup=list(manifest.get("vanished", [])))
    buckets = {"originals": st.originals, "thumbs": st.thumbs}
    present = _refuse_unless_empty(st, buckets, manifest)

    todo = []
    for e in manifest["objects"]:
        if present.get((e["bucket"], e["key"])) == e["size"]:
            rep.already_there += 1  # an interrupted restore put it; the final verification reads it again
        else:
            todo.append(e)

    def put_one(e: dict) -> int:
        bucket = buckets[e["bucket"]]
        meta = {"sha512": e["sha512"], "media-id": e["media_id"]} if e["bucket"] == "originals" else None
        with store.open_blob(e["sha512"]) as blob:
            body = VerifyingReader(blob, e)
            st.put(bucket, e["key"], body, length=e["size"], content_type=e.get("mime") or "application/octet-stream",
                   metadata=meta)
        try:
            body.check()
        except BackupError:
            st.delete(bucket, e["key"])  # never leave bytes that differ from the backup's record
            raise
        return e["size"]

    with ByteProgress("restoring", sum(e["size"] for e in todo), len(todo), progress, console) as bar, \
            cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for n in pool.map(put_one, todo):
            bar.advance(n)
            rep.copied += 1
            rep.bytes_copied += n

    _restore_database(store, manifest)
    migrate(log=lambda *a: None)  # a backup from an older version gets this version's schema
    db.close_pool()
    _requeue_after_restore(rep, manifest)
    if verify:
        from .check import check

        rep.verify = check(quick=False, repair=False, progress=progress, console=console, label="verifying")
    rep.seconds = time.perf_counter() - t0
    return rep


def _refuse_unless_empty(st, buckets: dict, manifest: dict) -> dict:
    """Refuse a stack that already holds a library.  Objects an interrupted restore of this same backup put are
    allowed (returned as {(bucket, key): size}) so that running restore again finishes the job."""
    with db.transaction() as cur:
        size = backup_q.library_size(cur)
    if size["users"] or size["media"]:
        raise BackupError(
            f"the database already holds a library ({size['users'] or 0} users, {size['media'] or 0} media): "
            "restore only onto an empty stack — point PVA_DATABASE_URL at a new database (`createdb`, or a fresh "
            "`pva up` data directory)")
    expected = {(e["bucket"], e["key"]): e["size"] for e in manifest["objects"]}
    present = {}
    for kind, bucket in buckets.items():
        for o in list_quiet(st, bucket):
            if expected.get((kind, o.key)) is None:
                raise BackupError(
                    f"bucket {bucket!r} is not empty (it holds {o.key!r}, which this backup does not): restore only "
                    "onto empty buckets — set PVA_BUCKET_ORIGINALS / PVA_BUCKET_THUMBS to new buckets")
            present[(kind, o.key)] = o.size
    return present


def _restore_database(store, manifest: dict) -> None:
    url = get_settings().effective_database_url
    with db.transaction() as cur:
        major, _ = backup_q.server_version(cur)
        present = backup_q.installed_extensions(cur)
    db.close_pool()  # pg_restore --clean drops tables: no pooled connection may hold locks on them
    with tempfile.TemporaryDirectory(prefix="pva-restore-", dir=get_settings().tmp_dir) as tmpdir:
        dump = Path(tmpdir) / "db.dump"
        store.get_file(manifest["dump"]["path"], dump)
        sha, _ = _sha512_file(dump)
        if sha != manifest["dump"]["sha512"]:
            raise BackupError(f"the backup's database dump {manifest['dump']['path']} is damaged (SHA-512 differs "
                              "from the manifest); restore from another backup")
        # archives are restorable by a pg_restore at least as new as the pg_dump that wrote them
        dumped_major = int(str(manifest.get("server_version", "0")).split(".")[0] or 0)
        tool = pg_tool("pg_restore", max(major, dumped_major))
        # --clean --if-exists: a freshly migrated (empty) database has the tables already; one transaction: a
        # failure leaves the database as it was
        # extensions already installed (vector, by the migrations or an administrator) are left out: dropping and
        # creating them again needs a superuser, which the library's database role usually is not
        dsn, env = _libpq(url)
        listing = subprocess.run([tool, "--list", str(dump)], capture_output=True, text=True, env=env)
        if listing.returncode != 0:
            raise BackupError(f"pg_restore cannot read the dump: {listing.stderr.strip()[-2000:]}")
        keep = [line for line in listing.stdout.splitlines()
                if not (" EXTENSION " in f" {line} " and line.split()[-1] in present)]
        (Path(tmpdir) / "list").write_text("\n".join(keep) + "\n")
        r = subprocess.run([tool, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                            "--exit-on-error", f"--use-list={Path(tmpdir) / 'list'}", f"--dbname={dsn}", str(dump)],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise BackupError(f"pg_restore failed: {r.stderr.strip()[-2000:]}")


def _requeue_after_restore(rep: RestoreReport, manifest: dict) -> None:
    from .. import jobs

    with db.transaction() as cur:
        rep.jobs_requeued = backup_q.requeue_interrupted_jobs(cur)
        # face crops the backup could not copy are made again by running the faces analysis of those media
        lost_crops = sorted({v["media_id"] for v in rep.not_in_backup
                             if v["bucket"] == "thumbs" and "/faces/" in v["key"]})
        if lost_crops:
            rep.faces_requeued = len(backup_q.requeue_kind_for_media(cur, lost_crops, "faces"))
        queued = backup_q.unpublished_jobs(cur)
    rep.jobs_queued = len(queued)
    # a broker that is down is no failure: the jobs stay queued in the table (the source of truth) for reconcile
    rep.jobs_published = jobs.publish_jobs([(r["media_id"], r["kind"], r["attempts"]) for r in queued])
