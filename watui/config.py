"""watui's TOML configuration: typed, validated, overridable from the environment, edited atomically.

Every mistake in the file is refused with one line naming the file, the line, the dotted key
and what was expected, and the app never starts on half a config. Environment overrides
(the seed's SESSIONS / DB_URI / ...) apply to the loaded value and are never written back.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import tomli_w

from watui.domain.errors import ConfigError, SessionExists, SessionNotFound
from watui.domain.session_id import validate_session_id
from watui.paths import (
    default_config_path,
    ensure_private_dir,
    ensure_private_file,
    is_postgres_url,
    resolve_config_path,
    write_private_file,
)

DEFAULT_SESSION_ID = "default"


def _check_db_uri(value: str) -> None:
    if "://" in value and not is_postgres_url(value) and not value.startswith("file://"):
        raise ValueError(f"expected a sqlite path or a postgres:// URL, got {value!r}")


def _check_text(value: str) -> None:
    # a lone surrogate (undecodable bytes on the command line) cannot be written as UTF-8
    if re.search("[\ud800-\udfff]", value):
        raise ValueError("expected text, got undecodable bytes")


def _check_not_empty(value: str) -> None:
    if not value.strip():
        raise ValueError("expected a non-empty string")
    _check_text(value)


# A field's metadata "check" runs after its type is confirmed; a ValueError is its message.
def _checked(default: Any, check: Callable[[Any], Any]) -> Any:
    return field(default=default, metadata={"check": check})


@dataclass(frozen=True)
class StoreConfig:
    path: str = ""  # "" -> watui.db in the data dir; relative -> relative to the data dir


@dataclass(frozen=True)
class EngineConfig:
    backend: Literal["neonize", "sim"] = "neonize"
    isolation: Literal["process", "inline"] = "process"


@dataclass(frozen=True)
class SessionConfig:
    id: str = field(metadata={"check": validate_session_id})
    label: str = _checked("", _check_text)
    db_uri: str = _checked("", _check_db_uri)  # "" -> <data dir>/sessions/<id>.db
    keys_db_uri: str = _checked("", _check_db_uri)  # "" -> keys live in db_uri

    @property
    def name(self) -> str:
        return self.label or self.id


@dataclass(frozen=True)
class NotificationsConfig:
    bell: bool = True
    desktop: Literal["off", "osc9", "osc777"] = "off"
    show_preview: bool = False
    notify_muted: bool = False


@dataclass(frozen=True)
class Config:
    """Frozen; change it with dataclasses.replace (the list and dict are not to be mutated)."""

    default_session: str = DEFAULT_SESSION_ID
    theme: str = _checked("watui-dark", _check_not_empty)
    data_dir: str = ""
    store: StoreConfig = field(default_factory=StoreConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    sessions: list[SessionConfig] = field(default_factory=list)
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> key
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)

    def session(self, session_id: str) -> SessionConfig:
        for session in self.sessions:
            if session.id == session_id:
                return session
        raise SessionNotFound(session_id)

    @property
    def session_ids(self) -> list[str]:
        return [session.id for session in self.sessions]


@dataclass(frozen=True)
class LoadedConfig:
    config: Config  # with environment overrides applied
    path: Path
    created: bool  # the file did not exist and was written with one "default" session


# ---------------------------------------------------------------------------------------------
# Line numbers: a small scanner over the text, so that errors point at the offending line.

Where = tuple[str | int, ...]  # ("sessions", 1, "label")

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BASIC_KEY = re.compile(r'"(?:[^"\\]|\\.)*"')
_LITERAL_KEY = re.compile(r"'[^']*'")


def _read_key(text: str, pos: int) -> tuple[list[str], int] | None:
    """A dotted TOML key at ``pos``: its parts and the position after it, or None."""
    parts: list[str] = []
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        for pattern in (_BARE_KEY, _BASIC_KEY, _LITERAL_KEY):
            match = pattern.match(text, pos)
            if match:
                break
        else:
            return None
        token = match.group()
        if pattern is _BARE_KEY:
            parts.append(token)
        elif pattern is _LITERAL_KEY:
            parts.append(token[1:-1])
        else:
            parts.append(tomllib.loads(f"k = {token}")["k"])  # exact escape handling
        pos = match.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


def scan_key_lines(text: str) -> dict[Where, int]:
    """Map each table and key in the text to the line (1-based) where it first appears."""
    lines: dict[Where, int] = {}
    array_index: dict[tuple[str, ...], int] = {}  # [[name]] -> index of its current table
    table: Where = ()
    closing_quotes = ""  # set while inside a multi-line string

    def resolve(parts: list[str]) -> Where:
        resolved: list[str | int] = []
        for i, part in enumerate(parts):
            resolved.append(part)
            if tuple(parts[: i + 1]) in array_index:
                resolved.append(array_index[tuple(parts[: i + 1])])
        return tuple(resolved)

    for number, line in enumerate(text.splitlines(), start=1):
        if closing_quotes:
            if closing_quotes in line:
                closing_quotes = ""
            continue
        stripped = line.lstrip()
        if stripped.startswith("[["):
            key = _read_key(stripped, 2)
            if key:
                raw = tuple(key[0])
                array_index[raw] = array_index.get(raw, -1) + 1
                for nested in [k for k in array_index if len(k) > len(raw) and k[: len(raw)] == raw]:
                    del array_index[nested]
                table = resolve(key[0])
                lines.setdefault(table, number)
        elif stripped.startswith("["):
            key = _read_key(stripped, 1)
            if key:
                table = resolve(key[0])
                lines.setdefault(table, number)
        else:
            key = _read_key(stripped, 0)
            if key and stripped[key[1] : key[1] + 1] == "=":
                parts, end = key
                for i in range(1, len(parts) + 1):
                    lines.setdefault(table + tuple(parts[:i]), number)
                value = stripped[end + 1 :]
                for quotes in ('"""', "'''"):
                    if value.count(quotes) == 1:
                        closing_quotes = quotes
    return lines


# ---------------------------------------------------------------------------------------------
# Validation: one walker over the dataclass fields, for every table.


class _Source:
    """Where a document came from, to put the file and line in front of every message."""

    def __init__(self, file: str | os.PathLike[str], text: str | None) -> None:
        self.file = str(file)
        self.lines = scan_key_lines(text) if text is not None else {}

    def error(self, where: Where, message: str) -> ConfigError:
        # a missing key has no line of its own: point at the table that should hold it
        for depth in range(len(where), 0, -1):
            if where[:depth] in self.lines:
                return ConfigError(f"{self.file}:{self.lines[where[:depth]]}: {message}")
        return ConfigError(f"{self.file}: {message}")


def dotted(where: Where) -> str:
    out = ""
    for part in where:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
            out += f".{name}" if out else name
    return out


def _toml_type(value: object) -> str:
    for kind, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
        (datetime, "datetime"),
        (date, "date"),
        (time, "time"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _expected(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(hint))
    if get_origin(hint) is list:
        return "an array of tables" if dataclasses.is_dataclass(get_args(hint)[0]) else "an array"
    if get_origin(hint) is dict or dataclasses.is_dataclass(hint):
        return "a table"
    return {str: "a string", bool: "a boolean (true or false)", int: "an integer"}[hint]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _convert(value: Any, hint: Any, where: Where, source: _Source) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        ok = isinstance(value, dict)
    elif origin is Literal:
        ok = isinstance(value, str) and value in get_args(hint)
    elif origin is list:
        ok = isinstance(value, list)
    elif origin is dict:
        ok = isinstance(value, dict)
    else:  # bool is an int in Python, never in TOML
        ok = isinstance(value, hint) and (hint is bool or not isinstance(value, bool))
    if not ok:
        got = repr(value) if origin is Literal and isinstance(value, str) else _toml_type(value)
        raise source.error(where, f"{dotted(where)}: expected {_expected(hint)}, got {got}")

    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, source)
    if origin is list:
        (item,) = get_args(hint)
        return [_convert(v, item, where + (i,), source) for i, v in enumerate(value)]
    if origin is dict:
        _, item = get_args(hint)
        return {k: _convert(v, item, where + (k,), source) for k, v in value.items()}
    return value


def _build(cls: type, table: dict[str, Any], where: Where, source: _Source) -> Any:
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    for key in table:
        if key not in names:
            if not where:
                place = "at top level"
            elif isinstance(where[-1], int):
                place = f"in {dotted(where)}"
            else:
                place = f"in [{dotted(where)}]"
            raise source.error(
                where + (key,), f"unknown key {key!r} {place} (expected: {', '.join(names)})"
            )
    values: dict[str, Any] = {}
    for f in fields:
        here = where + (f.name,)
        if f.name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise source.error(where, f"{dotted(here)}: required key missing")
            continue
        value = _convert(table[f.name], _hints(cls)[f.name], here, source)
        check = f.metadata.get("check")
        if check is not None:
            try:
                check(value)
            except ValueError as exc:
                raise source.error(here, f"{dotted(here)}: {exc}") from None
        values[f.name] = value
    return cls(**values)


def _validate(doc: dict[str, Any], source: _Source) -> Config:
    config: Config = _build(Config, doc, (), source)
    if not config.sessions:
        raise source.error(
            ("sessions",), "no sessions configured: add at least one [[sessions]] table with an id"
        )
    seen: set[str] = set()
    for i, session in enumerate(config.sessions):
        if session.id in seen:
            raise source.error(
                ("sessions", i, "id"), f"duplicate session id {session.id!r} (sessions[{i}])"
            )
        seen.add(session.id)
    if "default_session" not in doc:
        # No key: the first session leads, as the seed's single-session setups expect.
        return dataclasses.replace(config, default_session=config.sessions[0].id)
    if config.default_session not in seen:
        raise source.error(
            ("default_session",),
            f"default_session: {config.default_session!r} is not a configured session "
            f"(configured: {', '.join(config.session_ids)})",
        )
    return config


def _parse(text: str, source: _Source) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r" \(at line (\d+), column (\d+)\)$", message)
        if match:
            message = f"{message[: match.start()]} (column {match.group(2)})"
            line = int(match.group(1))
        else:  # "(at end of document)"
            line = max(1, len(text.splitlines()))
        raise ConfigError(f"{source.file}:{line}: invalid TOML: {message}") from None


def parse_config(text: str, file: str | os.PathLike[str] = "<config>") -> Config:
    """Validate TOML text; no environment overrides. ``file`` only labels the messages."""
    source = _Source(file, text)
    return _validate(_parse(text, source), source)


# ---------------------------------------------------------------------------------------------
# Loading and first start.

_HEADER = (
    "# watui configuration; every key is described in config.example.toml.\n"
    "# watui rewrites this file when settings change from the app or the CLI (comments are not kept).\n\n"
)


def _first_start_doc() -> dict[str, Any]:
    return {
        "default_session": DEFAULT_SESSION_ID,
        "sessions": [{"id": DEFAULT_SESSION_ID, "label": "Default"}],
    }


def _read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None


def render(doc: dict[str, Any]) -> str:
    """TOML text for a validated document, with sessions as [[sessions]] tables: tomli_w would
    inline short ones, and then an error could only point at the ``sessions =`` line."""
    scalars = {k: v for k, v in doc.items() if not isinstance(v, dict) and k != "sessions"}
    chunks = [tomli_w.dumps(scalars)] if scalars else []
    for key, value in doc.items():
        if isinstance(value, dict):
            chunks.append(tomli_w.dumps({key: value}))
        elif key == "sessions":
            chunks.extend("[[sessions]]\n" + tomli_w.dumps(session) for session in value)
    return _HEADER + "\n".join(chunks)


def _write_doc(path: Path, doc: dict[str, Any]) -> None:
    try:
        if not path.parent.exists() or path.parent == default_config_path().parent:
            # only a directory watui owns is tightened: --config may point into $HOME
            ensure_private_dir(path.parent)
        write_private_file(path, render(doc).encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


def load_config(
    cli_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] = os.environ
) -> LoadedConfig:
    """Find, read, validate and override the config; on first start write one with a single
    "default" session. Raises ConfigError (one line) on any problem; never rewrites the file."""
    path = resolve_config_path(cli_path, env)
    text = _read_text(path)
    created = text is None
    if created:
        _write_doc(path, _first_start_doc())
        text = _read_text(path) or ""
    ensure_private_file(path)
    config = parse_config(text, path)
    return LoadedConfig(config=apply_env_overrides(config, env), path=path, created=created)


# ---------------------------------------------------------------------------------------------
# The seed's environment variables, as overrides of the loaded config.


def _env_prefix(session_id: str) -> str:
    return session_id.upper().replace("-", "_")


def apply_env_overrides(config: Config, env: Mapping[str, str] = os.environ) -> Config:
    """SESSIONS=a,b adds sessions; DB_URI / DB_KEYS_URI set the default session's databases;
    <ID>_DB_URI / <ID>_DB_KEYS_URI set one session's (and win over DB_URI for it). Empty
    variables are ignored, as the seed's ``DB_KEYS_URI=`` means unset."""
    sessions = list(config.sessions)
    known = set(config.session_ids)
    for item in env.get("SESSIONS", "").split(","):
        session_id = item.strip()
        if not session_id or session_id in known:
            continue
        try:
            validate_session_id(session_id)
        except ValueError as exc:
            raise ConfigError(f"environment variable SESSIONS: {exc}") from None
        sessions.append(SessionConfig(id=session_id))
        known.add(session_id)

    def override(session: SessionConfig) -> SessionConfig:
        changes: dict[str, str] = {}
        for attr, suffix in (("db_uri", "DB_URI"), ("keys_db_uri", "DB_KEYS_URI")):
            variables = [f"{_env_prefix(session.id)}_{suffix}"]
            if session.id == config.default_session:
                variables.insert(0, suffix)
            for variable in variables:  # later (more specific) wins
                value = env.get(variable, "")
                if value:
                    try:
                        _check_db_uri(value)
                    except ValueError as exc:
                        raise ConfigError(f"environment variable {variable}: {exc}") from None
                    changes[attr] = value
        return dataclasses.replace(session, **changes) if changes else session

    return dataclasses.replace(config, sessions=[override(s) for s in sessions])


# ---------------------------------------------------------------------------------------------
# Writing changes back.


def edit_config(path: str | os.PathLike[str], mutate: Callable[[dict[str, Any]], Any]) -> Config:
    """Apply ``mutate`` to the file's own TOML document (not the env-overridden config), validate
    and write it atomically; every other setting is kept. A missing file starts as the
    first-start config. Returns the new config, without environment overrides."""
    path = Path(path)
    text = _read_text(path)
    if text is None:
        doc = _first_start_doc()
    else:
        source = _Source(path, text)
        doc = _parse(text, source)
        _validate(doc, source)  # a broken file is reported at its line, and never rewritten
    new_doc = copy.deepcopy(doc)
    returned = mutate(new_doc)
    if returned is not None:
        new_doc = returned
    config = _validate(new_doc, _Source(path, None))
    _write_doc(path, new_doc)
    return config


def _find(doc: dict[str, Any], session_id: str) -> int:
    for i, session in enumerate(doc.get("sessions", [])):
        if session.get("id") == session_id:
            return i
    raise SessionNotFound(session_id)


def add_session(path: str | os.PathLike[str], session_id: str, label: str = "") -> Config:
    validate_session_id(session_id)

    def mutate(doc: dict[str, Any]) -> None:
        sessions = doc.setdefault("sessions", [])
        if any(session.get("id") == session_id for session in sessions):
            raise SessionExists(session_id)
        sessions.append({"id": session_id, "label": label} if label else {"id": session_id})

    return edit_config(path, mutate)


def remove_session(path: str | os.PathLike[str], session_id: str) -> Config:
    """The default moves to the first remaining session; the last session cannot go."""

    def mutate(doc: dict[str, Any]) -> None:
        sessions = doc.get("sessions", [])
        index = _find(doc, session_id)
        if len(sessions) == 1:
            raise ConfigError(f"cannot remove {session_id!r}: it is the only session")
        del sessions[index]
        if doc.get("default_session", DEFAULT_SESSION_ID) == session_id:
            doc["default_session"] = sessions[0]["id"]

    return edit_config(path, mutate)


def set_default_session(path: str | os.PathLike[str], session_id: str) -> Config:
    def mutate(doc: dict[str, Any]) -> None:
        _find(doc, session_id)
        doc["default_session"] = session_id

    return edit_config(path, mutate)


def set_theme(path: str | os.PathLike[str], name: str) -> Config:
    def mutate(doc: dict[str, Any]) -> None:
        doc["theme"] = name

    return edit_config(path, mutate)
