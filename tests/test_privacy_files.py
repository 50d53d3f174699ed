"""Everything watui keeps (store, device stores, logs, config) is 0600 in 0700 directories:
created so, and tightened when an existing one is looser, by the CLI and by the app."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from watui.cli import main
from watui.engine.isolation import ProcessClient
from watui.engine.sim.testing import EventRecorder
from watui.domain import events as ev
from watui.logs import setup_logging
from watui.runtime import Options, build_runtime, load_environment


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_home(tmp_path, monkeypatch):
    """A data dir 0755 with 0755 sessions/ and logs/, a 0644 config, log, store and device
    store: as an older version, a restore from backup or a careless cp -r leaves them."""
    config = tmp_path / "config" / "config.toml"
    data = tmp_path / "data"
    monkeypatch.setenv("WATUI_CONFIG", str(config))
    monkeypatch.setenv("WATUI_DATA_DIR", str(data))
    for name in ("SESSIONS", "DB_URI", "DB_KEYS_URI"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    old_umask = os.umask(0o022)
    assert main(["sessions", "list"]) == 0  # creates everything, privately
    for directory in (data, data / "sessions", data / "logs"):
        os.chmod(directory, 0o755)
    (data / "sessions" / "default.db").write_bytes(b"")
    for file in (config, data / "watui.db", data / "logs" / "watui.log", data / "sessions" / "default.db"):
        os.chmod(file, 0o644)
    yield config, data
    os.umask(old_umask)
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def assert_private(config: Path, data: Path) -> None:
    for directory in (data, data / "sessions", data / "logs"):
        assert mode(directory) == 0o700, directory
    for file in (config, data / "watui.db", data / "logs" / "watui.log"):
        assert mode(file) == 0o600, file


def test_the_cli_tightens_loose_modes(loose_home, capsys):
    config, data = loose_home
    assert main(["sessions", "list"]) == 0
    assert_private(config, data)


async def test_the_app_tightens_loose_modes(loose_home):
    config, data = loose_home
    environment = load_environment(Options(backend="sim"))
    runtime = await build_runtime(environment, start=False)
    try:
        assert_private(config, data)
    finally:
        await runtime.close()
        runtime.network.close()


def test_fresh_files_are_private_under_a_permissive_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("WATUI_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.setenv("WATUI_DATA_DIR", str(tmp_path / "data"))
    root = logging.getLogger()
    saved = list(root.handlers)
    old_umask = os.umask(0)
    try:
        assert main(["db", "upgrade"]) == 0
    finally:
        os.umask(old_umask)
        root.handlers[:] = saved
    assert_private(tmp_path / "config" / "config.toml", tmp_path / "data")


def test_a_rotated_log_starts_private(tmp_path):
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    old_umask = os.umask(0o022)
    try:
        path = setup_logging(tmp_path / "logs")
        handler = root.handlers[0]
        logging.getLogger("watui.test").warning("before the rotation")
        handler.doRollover()
        logging.getLogger("watui.test").warning("after the rotation")
        handler.close()
    finally:
        os.umask(old_umask)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert mode(path) == 0o600 and mode(path.with_name("watui.log.1")) == 0o600
    assert "after the rotation" in path.read_text()


async def test_an_engine_child_log_is_tightened(tmp_path):
    log_path = tmp_path / "logs" / "s1.log"
    log_path.parent.mkdir(mode=0o700)
    log_path.write_text("an old log\n")
    os.chmod(log_path, 0o644)
    client = ProcessClient("s1", "watui.engine.isolation.testing:make_echo_client", log_path=log_path,
                           start_timeout=10.0, call_timeout=10.0)
    events = EventRecorder()
    client.set_event_sink(events)
    try:
        await client.connect()
        await events.next(ev.Connected, timeout=10.0)
        assert mode(log_path) == 0o600
    finally:
        await client.disconnect()


def test_the_real_device_store_is_private(tmp_path):
    """whatsmeow's SQLite would create the device store (keys) 0644, and its -wal/-shm too."""
    from watui.engine.neonize.client import _devices, device_dsn, private_device_store

    old_umask = os.umask(0o022)
    try:
        fresh = tmp_path / "sessions" / "fresh.db"
        private_device_store(fresh)
        assert _devices(device_dsn(str(fresh))) == []  # Go opens the empty file as a new store
        loose = tmp_path / "sessions" / "loose.db"
        _devices(device_dsn(str(loose)))  # as an older watui left it
        assert mode(loose) == 0o644
        private_device_store(loose)
    finally:
        os.umask(old_umask)
    for store in (fresh, loose):
        for path in (store, Path(f"{store}-wal"), Path(f"{store}-shm")):
            if path.exists():
                assert mode(path) == 0o600, path
        assert mode(Path(f"{store}-wal")) == 0o600
