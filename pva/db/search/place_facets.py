"""Facet counts of places (issue 21): the items per country and per city under the search's filters, counted from
media_live_place's (owner, place) entries, on a sample of the library when the filters match very many items (as
the other facets are); without filters, from the library counters.  Kept apart from facet_counts: a place is a name looked up in ``places``, not a column."""
from __future__ import annotations

from uuid import UUID

from .. import places as places_q
from .facet_counts import _clauses, _facet_sample_percent
from .filters import Filters, _prepare


def place_facets(cur, user_id: UUID, f: Filters) -> dict:
    """{"country": [{value: code, name, n}], "city": [{id, city, region, country, country_code, n}]}."""
    if f == Filters():  # the library page: the counters know (015_place_counts.sql)
        return places_q.owner_counts(cur, user_id)
    clauses = _clauses(cur, f, user_id, None)  # a chosen place narrows them too (its chip, active, unselects it)
    p, w = clauses.p, clauses.full
    rel, scale = "media m", 1.0
    pct = _facet_sample_percent(cur, f, user_id, clauses)
    if pct is not None:
        rel, scale = f"media m tablesample system ({pct:.4f}) repeatable (7)", 100.0 / pct
    _prepare(cur, f)
    out = places_q.facet(cur, rel, w, p)
    if scale != 1.0:
        for rows in out.values():
            for r in rows:
                r["n"] = max(1, round(r["n"] * scale))
    return out


__all__ = ["place_facets"]
