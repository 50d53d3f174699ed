import os
import stat
from pathlib import Path

import platformdirs
import pytest

from watui.config import Config, SessionConfig, StoreConfig
from watui.domain.errors import InvalidSessionId
from watui.paths import (
    ensure_private_dir,
    ensure_private_file,
    resolve_config_path,
    resolve_paths,
    write_private_file,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask():
    # a permissive umask must not leak into what watui creates
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_ensure_private_dir_creates_parents_0700(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    ensure_private_dir(target)
    for directory in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert mode(directory) == 0o700


def test_ensure_private_dir_tightens_existing_but_not_its_parent(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir(mode=0o755)
    os.chmod(parent, 0o755)
    target = parent / "data"
    target.mkdir()
    os.chmod(target, 0o755)
    ensure_private_dir(target)
    assert mode(target) == 0o700
    assert mode(parent) == 0o755


def test_ensure_private_dir_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        ensure_private_dir(tmp_path / "f")


def test_write_private_file_is_0600_and_leaves_no_temp(tmp_path):
    target = tmp_path / "config.toml"
    write_private_file(target, b"one")
    write_private_file(target, b"two")
    assert target.read_bytes() == b"two"
    assert mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_write_private_file_replaces_a_loose_file(tmp_path):
    target = tmp_path / "config.toml"
    target.write_text("old")
    os.chmod(target, 0o644)
    write_private_file(target, b"new")
    assert mode(target) == 0o600


def test_write_private_file_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "config.toml"
    target.write_bytes(b"old")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_private_file(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_write_private_file_through_symlink_keeps_the_link(tmp_path):
    real = tmp_path / "dotfiles" / "config.toml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    write_private_file(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_ensure_private_file(tmp_path):
    target = tmp_path / "f"
    ensure_private_file(target)  # missing: nothing to do
    assert not target.exists()
    target.write_text("x")
    os.chmod(target, 0o644)
    ensure_private_file(target)
    assert mode(target) == 0o600


def test_resolve_config_path_precedence(tmp_path):
    env = {"WATUI_CONFIG": str(tmp_path / "env.toml")}
    assert resolve_config_path(tmp_path / "cli.toml", env) == tmp_path / "cli.toml"
    assert resolve_config_path(None, env) == tmp_path / "env.toml"
    default = Path(platformdirs.user_config_dir("watui", appauthor=False)) / "config.toml"
    assert resolve_config_path(None, {}) == default
    assert resolve_config_path(None, {"WATUI_CONFIG": ""}) == default


def test_resolve_config_path_expands_and_absolutizes(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("rel.toml", {}) == tmp_path / "rel.toml"
    assert resolve_config_path("~/x.toml", {}) == Path.home() / "x.toml"


def config_with(**kwargs) -> Config:
    return Config(sessions=[SessionConfig(id="default")], **kwargs)


def test_resolve_paths_data_dir_precedence(tmp_path):
    cfg_file = tmp_path / "cfg" / "config.toml"
    config = config_with(data_dir="from-key")
    env = {"WATUI_DATA_DIR": str(tmp_path / "env")}
    assert resolve_paths(config, cfg_file, tmp_path / "cli", env).data_dir == tmp_path / "cli"
    assert resolve_paths(config, cfg_file, None, env).data_dir == tmp_path / "env"
    # the key is relative to the config file's directory, not the working directory
    assert resolve_paths(config, cfg_file, None, {}).data_dir == tmp_path / "cfg" / "from-key"
    default = Path(platformdirs.user_data_dir("watui", appauthor=False))
    assert resolve_paths(config_with(), cfg_file, None, {}).data_dir == default


def test_resolve_paths_layout(tmp_path):
    paths = resolve_paths(config_with(), tmp_path / "config.toml", tmp_path / "d", {})
    assert paths.config_file == tmp_path / "config.toml"
    assert paths.store_path == tmp_path / "d" / "watui.db"
    assert paths.sessions_dir == tmp_path / "d" / "sessions"
    assert paths.logs_dir == tmp_path / "d" / "logs"
    assert paths.session_log_path("work") == tmp_path / "d" / "logs" / "work.log"
    with pytest.raises(InvalidSessionId):
        paths.session_log_path("../x")


def test_resolve_paths_store_path(tmp_path):
    relative = config_with(store=StoreConfig(path="sub/my.db"))
    assert resolve_paths(relative, tmp_path / "c.toml", tmp_path, {}).store_path == (
        tmp_path / "sub" / "my.db"
    )
    absolute = config_with(store=StoreConfig(path=str(tmp_path / "elsewhere.db")))
    assert resolve_paths(absolute, tmp_path / "c.toml", tmp_path / "d", {}).store_path == (
        tmp_path / "elsewhere.db"
    )


def test_session_db_uri(tmp_path):
    paths = resolve_paths(config_with(), tmp_path / "c.toml", tmp_path, {})
    assert paths.session_db_uri(SessionConfig(id="work")) == str(tmp_path / "sessions" / "work.db")
    assert paths.session_db_uri(SessionConfig(id="w", db_uri="x/w.db")) == str(tmp_path / "x" / "w.db")
    assert paths.session_db_uri(SessionConfig(id="w", db_uri="/abs/w.db")) == "/abs/w.db"
    # the seed's form: the engine adds file: itself
    assert paths.session_db_uri(SessionConfig(id="w", db_uri="file:st/w.db?_fk=on")) == str(
        tmp_path / "st" / "w.db"
    )
    url = "postgres://u:p@host/db"
    assert paths.session_db_uri(SessionConfig(id="w", db_uri=url)) == url
    assert paths.session_keys_db_uri(SessionConfig(id="w")) == ""
    assert paths.session_keys_db_uri(SessionConfig(id="w", keys_db_uri="k.db")) == str(tmp_path / "k.db")


def test_ensure_dirs(tmp_path):
    paths = resolve_paths(config_with(), tmp_path / "c.toml", tmp_path / "data", {})
    paths.ensure_dirs()
    for directory in (paths.data_dir, paths.sessions_dir, paths.logs_dir):
        assert mode(directory) == 0o700
