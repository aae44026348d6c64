"""Repositories: one module per aggregate (media, people, albums, users, tokens, jobs' analysis rows, search...).

Every function takes an open cursor as its first argument; a service opens the transaction
(`with pva.infra.db.transaction() as cur:`) and decides what belongs in it.  The pool and migrations live in
pva/infra.  Routers and function handlers never import this package: they call a service.
"""
