"""The sim's stand-in for whatsmeow's device database: one small sqlite file per session.

Only the companion identity is kept (``device(jid, phone, push_name)``); a paired session
stays paired across app restarts as long as the network still has the account. The file is
private (0600) and its parent directory is created 0700, like the real device DB.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = "CREATE TABLE IF NOT EXISTS device (jid TEXT PRIMARY KEY, phone TEXT NOT NULL, push_name TEXT NOT NULL DEFAULT '')"


@dataclass(frozen=True, slots=True)
class StoredDevice:
    jid: str  # companion JID, user:device@s.whatsapp.net
    phone: str  # digits with country code
    push_name: str = ""


def _open(path: Path) -> sqlite3.Connection:
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    conn = sqlite3.connect(path)
    conn.execute(_SCHEMA)
    return conn


def read_device(path: str | Path) -> StoredDevice | None:
    """The stored device, or None when the file is missing or holds none."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(path)
        try:
            row = conn.execute("SELECT jid, phone, push_name FROM device LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:  # no table yet, or not a database: unpaired
        return None
    return StoredDevice(*row) if row else None


def write_device(path: str | Path, device: StoredDevice) -> None:
    conn = _open(Path(path))
    try:
        with conn:
            conn.execute("DELETE FROM device")
            conn.execute(
                "INSERT INTO device (jid, phone, push_name) VALUES (?, ?, ?)",
                (device.jid, device.phone, device.push_name),
            )
    finally:
        conn.close()


def clear_device(path: str | Path) -> None:
    """Forget the device (the file stays, empty), as whatsmeow does on logout."""
    path = Path(path)
    if not path.exists():
        return
    conn = _open(path)
    try:
        with conn:
            conn.execute("DELETE FROM device")
    finally:
        conn.close()
