"""`pva sync`: a folder-sync uploader for a remote PhotoAndVideoAnalysis server.

Files are hashed locally (SHA-512), the server is asked in bulk which it already has (POST /api/v1/media/have),
and the rest are uploaded (POST /api/v1/media/upload) with the relative path ``<root name>/<relative path>``.
A local SQLite state database makes runs resumable and reruns cheap; ``--watch`` keeps uploading new files.
Local files are only ever read.

    from pva.sync.engine import SyncOptions, run_sync
    summary = run_sync(SyncOptions(roots=[Path("~/Pictures")], server="https://photos.home", token="pva_..."))
    summary.exit_code   # 0 ok, 1 some files rejected/failed, 2 usage/config error, 3 server unreachable
"""
