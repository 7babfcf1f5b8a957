"""The shared state (teams, users, devices, visits, plans, positions, events, audit) in SQLite.

Wiring with the web app: every web module gets the store with
:func:`dispatch.web.auth.get_store`, which returns ``app.extensions["dispatch.store"]`` and,
when absent, opens ``Store(settings.database)`` once and puts it there (the first
``register`` call does it). Tests and the server may pass a ready store instead:
``create_app(settings, **{"dispatch.store": store})``. The server starts the background
purge with ``start_retention(store, settings)`` (returns a worker with ``.stop()``).

All writes go through one writer thread (callers block until their write is committed; jobs
queued together share one transaction, each in its own savepoint); reads use pooled WAL
connections. Method groups: accounts (users, tokens, sessions, devices, pairing), care
(teams, visits, events, audit), positions (``insert_positions``, ``latest_positions``,
``list_positions``, ``purge_positions``), plans (``save_plan``, ``publish_plan``,
``get_plan``, ``published_plan``, ``list_plans``).
"""

from dispatch.store.core import Engine, StoreClosedError
from dispatch.store.retention import RetentionWorker, start_retention
from dispatch.store.rows import Page
from dispatch.store.store import Store

__all__ = ["Engine", "Page", "RetentionWorker", "Store", "StoreClosedError", "start_retention"]
