"""API routers, one per resource.  create_app() includes ALL_ROUTERS; other parts add theirs with
app.include_router()."""
from __future__ import annotations

from . import albums, auth, bulk, duplicates, functions, health, hooks, jobs, media, people, public, stats

# bulk before media: /media/bulk/trash must not be taken for /media/{media_id}/trash
ALL_ROUTERS = [health.router, auth.router, bulk.router, media.router, albums.router, people.router, stats.router,
               jobs.router, functions.router, hooks.router, public.router, duplicates.router]
