"""Behaviour that spans the database and the object store (issue 17: services hold behaviour, pva/db holds SQL,
pva/cli modules register thin CLI handlers)."""
