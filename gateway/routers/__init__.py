"""API routers, one per resource.  create_app() includes ALL_ROUTERS; other parts add theirs with
app.include_router()."""
from __future__ import annotations

from . import albums, auth, functions, health, hooks, jobs, media, people, stats

ALL_ROUTERS = [health.router, auth.router, media.router, albums.router, people.router, stats.router,
               jobs.router, functions.router, hooks.router]
