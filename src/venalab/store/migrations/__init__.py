"""Alembic migrations of the venalab database, run by `venalab.store.db.upgrade()`."""
