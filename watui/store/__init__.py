"""watui's chat store: one SQLite file (WAL) for every session, partitioned by session_id.

Layer rule: nothing here imports textual or neonize.
"""

from watui.store.context import (
    DEFAULT_SESSION_ID,
    get_session_id,
    get_session_id_or_default,
    resolve_session_id,
    with_session_id,
)
from watui.store.migrations import LATEST_VERSION, MIGRATIONS, UpgradeResult, upgrade_store
from watui.store.repository import ChatStorageRepository

__all__ = [
    "DEFAULT_SESSION_ID",
    "LATEST_VERSION",
    "MIGRATIONS",
    "ChatStorageRepository",
    "UpgradeResult",
    "get_session_id",
    "get_session_id_or_default",
    "resolve_session_id",
    "upgrade_store",
    "with_session_id",
]
