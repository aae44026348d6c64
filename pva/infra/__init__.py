"""Clients of the real services: Postgres (pool, migrations), the S3 object store, RabbitMQ, TLS certificates.

Nothing here knows about photos; pva/services and pva/db build on it.
"""
