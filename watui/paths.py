"""Where watui keeps its files, and creating them so that only their owner can read them.

The session databases hold the account's encryption keys and the config can hold a postgres
password, so everything watui creates is 0700 (dirs) or 0600 (files) whatever the umask.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from watui.domain.errors import ConfigError
from watui.domain.session_id import validate_session_id

if TYPE_CHECKING:  # config imports this module; the types are only needed for annotations
    from watui.config import Config, SessionConfig

APP_NAME = "watui"
CONFIG_ENV = "WATUI_CONFIG"
DATA_DIR_ENV = "WATUI_DATA_DIR"
CONFIG_FILE_NAME = "config.toml"
STORE_FILE_NAME = "watui.db"

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def default_config_path() -> Path:
    # appauthor=False: no "<author>/<app>" nesting on Windows
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILE_NAME


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_config_path(
    cli_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] = os.environ
) -> Path:
    """``--config``, else $WATUI_CONFIG, else the platform's config dir. Empty means unset."""
    chosen = cli_path or env.get(CONFIG_ENV) or None
    return _absolute(chosen) if chosen else default_config_path()


def resolve_paths(
    config: Config,
    config_path: str | os.PathLike[str],
    cli_data_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] = os.environ,
) -> Paths:
    """Data dir: ``--data-dir``, else $WATUI_DATA_DIR, else the ``data_dir`` key (relative to
    the config file's directory, so the file means the same wherever watui is started), else
    the platform's data dir."""
    config_file = _absolute(config_path)
    chosen = cli_data_dir or env.get(DATA_DIR_ENV) or None
    if chosen:
        data_dir = _absolute(chosen)
    elif config.data_dir:
        data_dir = _absolute(config.data_dir, config_file.parent)
    else:
        data_dir = default_data_dir()
    return Paths(
        config_file=config_file,
        data_dir=data_dir,
        store_path=_absolute(config.store.path or STORE_FILE_NAME, data_dir),
        sessions_dir=data_dir / "sessions",
        logs_dir=data_dir / "logs",
    )


@dataclass(frozen=True)
class Paths:
    config_file: Path
    data_dir: Path
    store_path: Path
    sessions_dir: Path
    logs_dir: Path

    def session_db_uri(self, session: SessionConfig) -> str:
        """The whatsmeow device database: a postgres URL as given, else an absolute sqlite path
        (the engine adds its own ``file:`` prefix, so one given here is taken off)."""
        return self._db_location(session.db_uri) or str(self.sessions_dir / f"{session.id}.db")

    def session_keys_db_uri(self, session: SessionConfig) -> str:
        """Empty means the keys live in the session's device database, as in the seed."""
        return self._db_location(session.keys_db_uri)

    def session_log_path(self, session_id: str) -> Path:
        return self.logs_dir / f"{validate_session_id(session_id)}.log"

    def ensure_dirs(self) -> None:
        """Create (or tighten) the data dir and its sessions/ and logs/; a path that cannot be
        a directory is one line of error, not a traceback."""
        for directory in (self.data_dir, self.sessions_dir, self.logs_dir):
            try:
                ensure_private_dir(directory)
            except OSError as exc:
                raise ConfigError(
                    f"data dir {directory}: cannot create it: {exc.strerror or exc}"
                ) from None

    def _db_location(self, value: str) -> str:
        if not value or is_postgres_url(value):
            return value
        return str(_absolute(sqlite_path(value), self.data_dir))


def is_postgres_url(value: str) -> bool:
    return value.startswith(("postgres://", "postgresql://"))


def sqlite_path(value: str) -> str:
    """``file:x.db?mode=rwc`` (the seed's form) -> ``x.db``; a plain path is returned as is."""
    if value.startswith("file://"):
        value = value[len("file://") :]
    elif value.startswith("file:"):
        value = value[len("file:") :]
    else:
        return value
    return value.split("?", 1)[0]


def _absolute(path: str | os.PathLike[str], base: Path | None = None) -> Path:
    result = Path(path).expanduser()
    if not result.is_absolute():
        result = (base if base is not None else Path.cwd()) / result
    return result


def ensure_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and any missing parents as 0700; tighten ``path`` itself if it is looser.

    Existing parents are left alone: they may be the user's home or a shared directory.
    """
    directory = Path(path)
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for new_dir in reversed(missing):
        try:
            new_dir.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # another process made it between the check and here
            pass
        # mkdir's mode is filtered by the umask; chmod is not
        os.chmod(new_dir, PRIVATE_DIR_MODE)
    if not directory.is_dir():
        raise NotADirectoryError(f"not a directory: {directory}")
    _tighten(directory, PRIVATE_DIR_MODE)
    return directory


def ensure_private_file(path: str | os.PathLike[str]) -> None:
    """Tighten an existing file to 0600; a missing file is not an error."""
    try:
        _tighten(Path(path), PRIVATE_FILE_MODE)
    except FileNotFoundError:
        pass


def write_private_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, mode 0600: a crash leaves the old file or the
    new one, never half of either, and never a stray temp file."""
    # Through a symlink, replace its target: dotfile managers link config files into place.
    target = Path(os.path.realpath(path))
    directory = target.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), PRIVATE_FILE_MODE)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    # makes the rename itself durable; some platforms/filesystems cannot open a directory
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        os.chmod(path, current & mode)
