"""The wire format between a session's engine child process and the parent's proxy.

Frames are a 4-byte big-endian length followed by that many bytes of UTF-8 JSON holding one
object. Values are plain JSON, never pickle: a frame from a broken or hostile child can at
worst be rejected with :class:`FrameError`, never run anything.

Domain values are encoded by ONE generic encoder and decoded by ONE generic decoder:

* an allowlisted dataclass (every event in :mod:`watui.domain.events`, ``Message``, ``Chat``,
  ``QuotedMessage``, ``ClientState``, ``SendResult``) is ``{"type": ClassName, "fields": {...}}``
* ``datetime`` is an ISO 8601 string with its UTC offset (a naive one is taken as UTC)
* ``bytes`` is base64, an enum is its value, a tuple or list is a JSON array

Decoding walks the dataclass field type hints (``typing.get_type_hints``), so every value
comes back as exactly the type it was declared with (``MessageStatus``, ``ReceiptKind``,
``tuple[Chat, ...]``, ``datetime | None`` ...), and anything that does not fit is refused.

Frame shapes (see :func:`command_frame`, :func:`parse_parent_frame`, :func:`parse_child_frame`):

* parent -> child: ``{"id": n, "cmd": name, "args": {...}}``
* child -> parent: ``{"id": n, "ok": true, "result": value, "state": ClientState}``,
  ``{"id": n, "ok": false, "error": "message", "state": ClientState}``,
  ``{"event": Event, "state": ClientState}`` and ``{"state": ClientState}``.
  The state is the client's state right after the frame's event or command, so the parent's
  ``state()`` is up to date by the time it forwards the event.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import enum
import json
import math
import struct
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from watui.jsondepth import too_deep
from watui.domain import events as _events
from watui.domain.errors import EngineError
from watui.domain.models import Chat, Message, QuotedMessage
from watui.engine.protocol import ClientState, SendResult

MAX_FRAME = 64 * 1024 * 1024
"""Largest frame body in bytes (history sync batches can be big)."""

HEADER = struct.Struct(">I")
_MAX_DEPTH = 32  # no domain value nests deeper than a handful of levels


class FrameError(EngineError, ValueError):
    """A frame or value that does not follow the wire format (bad length, bad JSON, unknown
    type, a field of the wrong type ...). Raised for every malformed input, nothing else."""


# --- the allowlist ------------------------------------------------------------------------
def _allowlist() -> dict[str, type]:
    allowed: dict[str, type] = {}
    for value in vars(_events).values():
        if (
            isinstance(value, type)
            and issubclass(value, _events.Event)
            and value is not _events.Event
            and dataclasses.is_dataclass(value)
        ):
            allowed[value.__name__] = value
    for cls in (Message, Chat, QuotedMessage, ClientState, SendResult):
        allowed[cls.__name__] = cls
    return allowed


ALLOWED: dict[str, type] = _allowlist()
"""Class name -> dataclass, for every type that may cross the pipe."""

_HINTS: dict[type, dict[str, Any]] = {}
_FIELDS: dict[type, tuple[dataclasses.Field[Any], ...]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
        _FIELDS[cls] = tuple(f for f in dataclasses.fields(cls) if f.init)
    return hints


# --- encoding -----------------------------------------------------------------------------
def encode_value(value: Any) -> Any:
    """A domain value as plain JSON data. Raises FrameError for anything not allowed."""
    if isinstance(value, enum.Enum):  # before str and int: StrEnum and IntEnum are both
        return encode_value(value.value)
    if value is None or type(value) in (bool, str, int, float):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (tuple, list)):
        return [encode_value(item) for item in value]
    cls = type(value)
    if dataclasses.is_dataclass(value) and ALLOWED.get(cls.__name__) is cls:
        _hints(cls)
        return {
            "type": cls.__name__,
            "fields": {f.name: encode_value(getattr(value, f.name)) for f in _FIELDS[cls]},
        }
    raise FrameError(f"cannot encode a value of type {cls.__name__}")


# --- decoding -----------------------------------------------------------------------------
# One generic decoder, compiled once per type hint into a small function (cached), so that a
# history batch of thousands of messages decodes quickly. Every decoder takes
# (data, where, depth), where ``where`` names the place for error messages.
Decoder = Callable[[Any, str, int], Any]
_DECODERS: dict[Any, Decoder] = {}


def decode_value(hint: Any, data: Any, *, where: str = "value") -> Any:
    """Turn JSON data back into a value of type ``hint`` (a class or a typing form)."""
    try:
        return _decoder(hint)(data, where, 0)
    except FrameError:
        raise
    except Exception as error:  # anything unexpected in hostile data is still a FrameError
        raise FrameError(f"{where}: {type(error).__name__}: {error}") from error


def _bad(where: str, expected: str, data: Any) -> FrameError:
    try:
        shown = repr(data)
    except Exception:  # noqa: BLE001 - a repr must not hide the real error
        shown = type(data).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return FrameError(f"{where}: expected {expected}, got {shown}")


def _decoder(hint: Any) -> Decoder:
    decoder = _DECODERS.get(hint)
    if decoder is None:
        decoder = _DECODERS[hint] = _build(hint)
    return decoder


def _build(hint: Any) -> Decoder:  # noqa: PLR0911, PLR0912
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _build_union(hint)
    if origin is tuple or origin is list:
        return _build_sequence(hint, origin)
    if origin is not None or not isinstance(hint, type):
        raise FrameError(f"no decoder for type {hint!r}")
    if hint is type(None):

        def none(data: Any, where: str, depth: int) -> None:
            if data is not None:
                raise _bad(where, "null", data)

        return none
    if issubclass(hint, enum.Enum):
        members = {member.value: member for member in hint}
        name = hint.__name__

        def enumeration(data: Any, where: str, depth: int) -> Any:
            if type(data) not in (str, int):  # no bool posing as 0 or 1
                raise _bad(where, name, data)
            try:
                return members[data]
            except KeyError:
                raise _bad(where, name, data) from None

        return enumeration
    if hint is bool:

        def boolean(data: Any, where: str, depth: int) -> bool:
            if data is True or data is False:
                return data
            raise _bad(where, "a boolean", data)

        return boolean
    if hint is int:

        def integer(data: Any, where: str, depth: int) -> int:
            if type(data) is int:
                return data
            raise _bad(where, "an integer", data)

        return integer
    if hint is float:

        def number(data: Any, where: str, depth: int) -> float:
            kind = type(data)
            if kind is float:
                if math.isfinite(data):
                    return data
                raise _bad(where, "a finite number", data)
            if kind is int:
                try:
                    return float(data)
                except OverflowError:
                    raise _bad(where, "a number", data) from None
            raise _bad(where, "a number", data)

        return number
    if hint is str:

        def string(data: Any, where: str, depth: int) -> str:
            if type(data) is str:
                return data
            raise _bad(where, "a string", data)

        return string
    if hint is bytes:

        def binary(data: Any, where: str, depth: int) -> bytes:
            if type(data) is not str:
                raise _bad(where, "base64 text", data)
            if not data:
                return b""
            try:
                return base64.b64decode(data.encode("ascii"), validate=True)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise _bad(where, "base64 text", data) from None

        return binary
    if hint is datetime:

        def timestamp(data: Any, where: str, depth: int) -> datetime:
            if type(data) is not str:
                raise _bad(where, "an ISO datetime", data)
            try:
                when = datetime.fromisoformat(data)
            except ValueError:
                raise _bad(where, "an ISO datetime", data) from None
            if when.tzinfo is None:
                raise _bad(where, "an ISO datetime with an offset", data)
            return when

        return timestamp
    if dataclasses.is_dataclass(hint):
        return _build_dataclass(hint)
    raise FrameError(f"no decoder for type {hint.__name__}")


def _build_union(hint: Any) -> Decoder:
    options = typing.get_args(hint)
    nullable = type(None) in options
    decoders = [_decoder(option) for option in options if option is not type(None)]
    expected = str(hint)
    if len(decoders) == 1:
        only = decoders[0]

        def optional(data: Any, where: str, depth: int) -> Any:
            if data is None:
                if nullable:
                    return None
                raise _bad(where, expected, data)
            return only(data, where, depth)

        return optional

    def union(data: Any, where: str, depth: int) -> Any:
        if data is None and nullable:
            return None
        for decoder in decoders:
            try:
                return decoder(data, where, depth)
            except FrameError:
                continue
        raise _bad(where, expected, data)

    return union


def _build_sequence(hint: Any, origin: Any) -> Decoder:
    args = typing.get_args(hint)
    make = tuple if origin is tuple else list
    if origin is list or (len(args) == 2 and args[1] is Ellipsis):
        if not args:
            raise FrameError(f"no decoder for an untyped {origin.__name__}")
        item = _decoder(args[0])

        def homogeneous(data: Any, where: str, depth: int) -> Any:
            if type(data) is not list:
                raise _bad(where, "an array", data)
            if depth > _MAX_DEPTH:
                raise FrameError(f"{where}: nested too deeply")
            inner = where + "[]"
            return make([item(x, inner, depth + 1) for x in data])

        return homogeneous
    items = [_decoder(a) for a in args]
    count = len(items)

    def fixed(data: Any, where: str, depth: int) -> Any:
        if type(data) is not list or len(data) != count:
            raise _bad(where, f"an array of {count}", data)
        if depth > _MAX_DEPTH:
            raise FrameError(f"{where}: nested too deeply")
        inner = where + "[]"
        return make([decode(x, inner, depth + 1) for decode, x in zip(items, data)])

    return fixed


def _build_dataclass(cls: type) -> Decoder:
    name = cls.__name__
    if ALLOWED.get(name) is not cls:
        raise FrameError(f"{name} is not allowed on the wire")
    table: dict[str, tuple[Decoder, bool, str]] | None = None

    def fields_table() -> dict[str, tuple[Decoder, bool, str]]:
        nonlocal table
        if table is None:  # built on first use, so that types may refer to each other
            hints = _hints(cls)
            table = {
                f.name: (
                    _decoder(hints[f.name]),
                    f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                    f"{name}.{f.name}",
                )
                for f in _FIELDS[cls]
            }
        return table

    def dataclass(data: Any, where: str, depth: int) -> Any:
        if type(data) is not dict or len(data) != 2 or "type" not in data or "fields" not in data:
            raise _bad(where, 'an object {"type", "fields"}', data)
        type_name = data["type"]
        if type_name != name:
            if type(type_name) is not str:
                raise _bad(where, "a type name", type_name)
            other = ALLOWED.get(type_name)
            if other is None:
                raise FrameError(f"{where}: unknown type {type_name[:60]!r}")
            if not issubclass(other, cls):
                raise FrameError(f"{where}: expected {name}, got {type_name}")
            return _decoder(other)(data, where, depth)
        if depth > _MAX_DEPTH:
            raise FrameError(f"{where}: nested too deeply")
        fields = data["fields"]
        if type(fields) is not dict:
            raise _bad(f"{where}.fields", "an object", fields)
        known = fields_table()
        for key in fields:
            if key not in known:
                raise FrameError(f"{where}: {name} has no field {str(key)[:60]!r}")
        values = {}
        for field_name, (decode, required, place) in known.items():
            if field_name in fields:
                values[field_name] = decode(fields[field_name], place, depth + 1)
            elif required:
                raise FrameError(f"{where}: {name} lacks field {field_name!r}")
        return cls(**values)

    return dataclass


def decode_object(data: Any, expected: type | None = None, *, where: str = "value") -> Any:
    """Decode any allowlisted dataclass, by the type name it carries (which must name a
    subclass of ``expected`` when given)."""
    name = data.get("type") if type(data) is dict else None
    if type(name) is not str:
        raise _bad(where, 'an object {"type", "fields"}', data)
    cls = ALLOWED.get(name)
    if cls is None:
        raise FrameError(f"{where}: unknown type {name[:60]!r}")
    if expected is not None and not issubclass(cls, expected):
        raise FrameError(f"{where}: expected {expected.__name__}, got {name}")
    return decode_value(cls, data, where=where)


def encode_event(event: _events.Event) -> dict[str, Any]:
    return encode_value(event)


def decode_event(data: Any) -> _events.Event:
    return decode_object(data, _events.Event, where="event")


# --- frames -------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise FrameError(f"bad JSON: {name} is not allowed")


def encode_frame(obj: dict[str, Any], *, max_size: int = MAX_FRAME) -> bytes:
    """One frame: length prefix + compact UTF-8 JSON. Raises FrameError when oversize."""
    try:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        try:
            body = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: \u escapes carry it through intact
            body = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")
    except (TypeError, ValueError, RecursionError) as error:
        raise FrameError(f"cannot encode frame: {error}") from error
    if len(body) > max_size:
        raise FrameError(f"frame of {len(body)} bytes is over the limit of {max_size}")
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """A frame body (without its length prefix) as a JSON object."""
    if too_deep(body):
        raise FrameError("bad JSON in frame: nested too deeply")
    try:
        text = bytes(body).decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant)
    except FrameError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise FrameError(f"bad JSON in frame: {error}") from None
    if not isinstance(obj, dict):
        raise FrameError(f"frame is not a JSON object but {type(obj).__name__}")
    return obj


def check_length(length: int, max_size: int = MAX_FRAME) -> None:
    if length > max_size:
        raise FrameError(f"frame of {length} bytes is over the limit of {max_size}")
    if length < 2:  # the smallest JSON object is {}
        raise FrameError(f"frame of {length} bytes is too short")


class FrameDecoder:
    """Incremental decoder: feed bytes as they come, get whole frames out.

    After a FrameError the stream is out of step and the decoder must not be used again.
    """

    def __init__(self, max_size: int = MAX_FRAME) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._broken = False

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if self._broken:
            raise FrameError("the frame stream is broken")
        self._buffer += data
        frames = []
        try:
            while len(self._buffer) >= HEADER.size:
                (length,) = HEADER.unpack_from(self._buffer)
                check_length(length, self.max_size)
                end = HEADER.size + length
                if len(self._buffer) < end:
                    break
                body = bytes(self._buffer[HEADER.size : end])
                del self._buffer[:end]
                frames.append(decode_body(body))
        except FrameError:
            self._broken = True
            raise
        return frames


async def read_body(reader: Any, max_size: int = MAX_FRAME) -> bytes | None:
    """The next frame's body (JSON bytes, length checked) from an asyncio StreamReader; None
    at end of stream, also when the writer died in the middle of a frame."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    (length,) = HEADER.unpack(header)
    check_length(length, max_size)
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None


async def read_frame(reader: Any, max_size: int = MAX_FRAME) -> dict[str, Any] | None:
    """The next frame as a JSON object (see :func:`read_body`). FrameError if malformed."""
    body = await read_body(reader, max_size)
    return None if body is None else decode_body(body)


# --- commands and responses ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Command:
    name: str
    params: dict[str, Any]  # argument name -> type hint
    result: Any  # type hint of the result


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("connect", {}, None),
        Command("disconnect", {}, None),
        Command("logout", {}, None),
        Command("pair_phone", {"phone": str}, str),
        Command(
            "send_text",
            {"chat_jid": str, "text": str, "message_id": str, "quoted": QuotedMessage | None},
            SendResult,
        ),
        Command("mark_read", {"chat_jid": str, "message_ids": tuple[str, ...], "sender": str}, None),
        Command("revoke", {"chat_jid": str, "message_id": str}, None),
        Command("edit", {"chat_jid": str, "message_id": str, "text": str}, None),
        Command("react", {"chat_jid": str, "message_id": str, "sender": str, "emoji": str}, None),
        Command("hold_incoming", {"held": bool}, None),
        Command("state", {}, ClientState),
        Command("ping", {}, None),
        Command("shutdown", {}, None),
    )
}


def _check_id(obj: dict[str, Any]) -> int:
    ident = obj.get("id")
    if not isinstance(ident, int) or isinstance(ident, bool) or ident < 0:
        raise FrameError(f"frame id must be a non-negative integer, got {ident!r:.60}")
    return ident


def command_frame(ident: int, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    command = COMMANDS.get(name)
    if command is None:
        raise FrameError(f"unknown command {name!r}")
    args = args or {}
    if set(args) != set(command.params):
        raise FrameError(f"command {name} takes {sorted(command.params)}, got {sorted(args)}")
    return {"id": ident, "cmd": name, "args": {k: encode_value(v) for k, v in args.items()}}


def parse_parent_frame(obj: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
    """A command frame as (id, command name, decoded keyword arguments)."""
    if set(obj) != {"id", "cmd", "args"}:
        raise FrameError(f"not a command frame: keys {sorted(obj)[:5]}")
    ident = _check_id(obj)
    name, raw = obj["cmd"], obj["args"]
    command = COMMANDS.get(name) if isinstance(name, str) else None
    if command is None:
        raise FrameError(f"unknown command {name!r:.60}")
    if not isinstance(raw, dict) or set(raw) != set(command.params):
        raise FrameError(f"command {name} takes {sorted(command.params)}")
    args = {k: decode_value(hint, raw[k], where=f"{name}.{k}") for k, hint in command.params.items()}
    return ident, name, args


def response_frame(
    ident: int, *, result: Any = None, error: str | None = None, state: ClientState | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"id": ident, "ok": error is None}
    if error is None:
        frame["result"] = encode_value(result)
    else:
        frame["error"] = error
    if state is not None:
        frame["state"] = encode_value(state)
    return frame


def event_frame(event: _events.Event, state: ClientState | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"event": encode_event(event)}
    if state is not None:
        frame["state"] = encode_value(state)
    return frame


def state_frame(state: ClientState) -> dict[str, Any]:
    return {"state": encode_value(state)}


@dataclass(frozen=True, slots=True)
class ChildFrame:
    """A frame from the child, checked. ``result`` stays raw JSON until the parent knows
    which command it answers (then :func:`decode_result`)."""

    id: int | None = None
    ok: bool = False
    result: Any = None
    error: str = ""
    event: _events.Event | None = None
    state: ClientState | None = None

    @property
    def is_response(self) -> bool:
        return self.id is not None


def parse_child_frame(obj: dict[str, Any]) -> ChildFrame:
    keys = set(obj)
    state = decode_object(obj["state"], ClientState, where="state") if "state" in obj else None
    if "id" in obj:
        ident = _check_id(obj)
        ok = obj.get("ok")
        if ok is True and keys <= {"id", "ok", "result", "state"}:
            return ChildFrame(id=ident, ok=True, result=obj.get("result"), state=state)
        if ok is False and keys <= {"id", "ok", "error", "state"} and isinstance(obj.get("error"), str):
            return ChildFrame(id=ident, ok=False, error=obj["error"], state=state)
        raise FrameError(f"malformed response frame: keys {sorted(keys)[:6]}")
    if "event" in obj:
        if keys - {"event", "state"}:
            raise FrameError(f"malformed event frame: keys {sorted(keys)[:6]}")
        return ChildFrame(event=decode_event(obj["event"]), state=state)
    if keys == {"state"}:
        return ChildFrame(state=state)
    raise FrameError(f"unknown frame: keys {sorted(keys)[:6]}")


def decode_result(name: str, data: Any) -> Any:
    command = COMMANDS[name]
    if command.result is None:
        if data is not None:
            raise _bad(f"{name} result", "null", data)
        return None
    return decode_value(command.result, data, where=f"{name} result")


__all__ = [
    "ALLOWED",
    "COMMANDS",
    "MAX_FRAME",
    "ChildFrame",
    "Command",
    "FrameDecoder",
    "FrameError",
    "command_frame",
    "decode_body",
    "decode_event",
    "decode_object",
    "decode_result",
    "decode_value",
    "encode_event",
    "encode_frame",
    "encode_value",
    "event_frame",
    "parse_child_frame",
    "parse_parent_frame",
    "read_body",
    "read_frame",
    "response_frame",
    "state_frame",
]
