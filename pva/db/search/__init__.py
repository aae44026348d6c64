"""SQL for reading the library, one module per concern:

- :mod:`.filters`      the search filters and their WHERE clauses (``Filters``, ``_where``, the label tag bucket)
- :mod:`.planner`      one page of results and the knobs that choose how it is read (``search``)
- :mod:`.cursor`       keyset pagination cursors
- :mod:`.facet_counts` facet counts (``facets``)
- :mod:`.media_detail` one item in full (``detail``)

The access checks and the owner's edits of a media row (GPS override, trash, restore, purge) moved to
:mod:`pva.db.media` (issue 17: one home per aggregate).  This package re-exports every name callers imported from
the old single module, so ``from pva.db import search as search_db; search_db.trash(...)`` keeps working while
callers move; new code imports from the module that holds the name.  Every query function takes the caller's
cursor first (pva/services/search.py and media.py hold the transactions).  Knobs (FAST_MS, FACET_EXACT_MAX...) must be
changed on their module (planner, facet_counts): setting them here changes nothing.
"""
from __future__ import annotations

from dataclasses import replace

from ..media import (clear_gps_override, media_access, owned_media_ids, purge, restore, set_gps_override,
                     trash)
from .cursor import decode_cursor, encode_cursor
from .facet_counts import FACET_LIMIT, FACETS, facets
from .filters import (LAT, LIST_COLUMNS, LON, SORTS, TEXT_EXPR, BadQuery, Filters, album_scope, camera_values,
                      cell_ranges, cells, finer_than_tag, tag_bucket, term_matches, tsquery_text)
from .media_detail import detail
from .planner import search

__all__ = ["Filters", "BadQuery", "search", "facets", "detail", "media_access", "replace",
           "owned_media_ids", "album_scope", "set_gps_override", "clear_gps_override", "trash", "restore", "purge",
           "encode_cursor", "decode_cursor", "cells", "cell_ranges", "tsquery_text", "tag_bucket", "finer_than_tag",
           "SORTS", "LAT", "LON", "LIST_COLUMNS", "TEXT_EXPR", "FACETS", "FACET_LIMIT", "camera_values",
           "term_matches"]
