"""Behaviour that spans the database and the object store (issue 17: services hold behaviour, pva/db holds SQL,
*_commands modules register thin CLI handlers)."""
