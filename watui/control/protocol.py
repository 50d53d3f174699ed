"""The control socket's wire format: JSON lines, one request per line, one response per line,
plus stream items for the streaming methods.

Request::

    {"id": 7, "method": "chat.messages", "params": {"session": "work", "chat": "..."}}

``id`` (optional: a string, an integer or null) is echoed in everything answering it.

Response (the seed's envelope, plus the id)::

    {"id": 7, "status": 200, "code": "SUCCESS", "message": "...", "results": {...}}

An error has the same shape with a non-200 status, an error code and ``results: null``.
A streaming method answers once like this with ``"stream": true``, then sends items::

    {"id": 7, "event": "message", "data": {...}}

and ends with ``{"id": 7, "event": "end", "data": {"reason": "..."}}``.

Every request is checked in full (shape, method, every parameter's name and type) before a
method runs, so a bad request never leaves anything half done.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from watui.jsondepth import too_deep
from watui.domain.errors import (
    EngineError,
    InvalidJID,
    InvalidPhoneNumber,
    InvalidSessionId,
    NoSessionsAvailable,
    SessionExists,
    SessionNotFound,
    WatuiError,
)
from watui.store.faults import StoreUnwritable

SOCKET_NAME = "watui.sock"
MAX_LINE = 1 << 20  # bytes in one request line, newline included
PROTOCOL_VERSION = 1

# status, code
INVALID_REQUEST = (400, "INVALID_REQUEST")
INVALID_PARAMS = (400, "INVALID_PARAMS")
REJECTED = (400, "REJECTED")
FORBIDDEN = (403, "FORBIDDEN")
UNKNOWN_METHOD = (404, "UNKNOWN_METHOD")
SESSION_NOT_FOUND = (404, "SESSION_NOT_FOUND")
NOT_FOUND = (404, "NOT_FOUND")
CONFLICT = (409, "CONFLICT")
SESSION_EXISTS = (409, "SESSION_EXISTS")
NOT_PAIRED = (409, "NOT_PAIRED")
TOO_LARGE = (413, "REQUEST_TOO_LARGE")
INTERNAL_ERROR = (500, "INTERNAL_ERROR")
NOT_AVAILABLE = (501, "NOT_AVAILABLE")
ENGINE_ERROR = (503, "ENGINE_ERROR")
BUSY = (503, "BUSY")
STORE_UNWRITABLE = (503, "STORE_UNWRITABLE")  # disk full, read-only, locked: try again later
TIMEOUT = (504, "TIMEOUT")


class ControlError(WatuiError):
    """A request the socket (or the in-process service) refused; ``str()`` is the one line a
    user sees."""

    def __init__(self, kind: tuple[int, str], message: str) -> None:
        super().__init__(message)
        self.status, self.code = kind
        self.message = message

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> ControlError:
        status = response.get("status")
        code = response.get("code")
        message = response.get("message")
        return cls(
            (status if isinstance(status, int) else 500, code if isinstance(code, str) else "ERROR"),
            message if isinstance(message, str) else "the control socket answered with an error",
        )


def error_for(error: BaseException) -> ControlError:
    """The structured error for what a method raised."""
    match error:
        case ControlError():
            return error
        case SessionNotFound() | NoSessionsAvailable():
            return ControlError(SESSION_NOT_FOUND, str(error))
        case SessionExists():
            return ControlError(SESSION_EXISTS, str(error))
        case InvalidSessionId() | InvalidJID() | InvalidPhoneNumber():
            return ControlError(INVALID_PARAMS, str(error))
        case EngineError():
            return ControlError(ENGINE_ERROR, str(error))
        case StoreUnwritable():
            return ControlError(STORE_UNWRITABLE, str(error))
        case TimeoutError():
            return ControlError(TIMEOUT, "timed out")
        case WatuiError():
            return ControlError(REJECTED, str(error))
        case ValueError():
            return ControlError(INVALID_PARAMS, str(error))
    return ControlError(INTERNAL_ERROR, "internal error; the daemon's log has the details")


# --- envelopes -----------------------------------------------------------------------------
def success(request_id: object, message: str, results: object, *, stream: bool = False) -> dict:
    response = {"id": request_id, "status": 200, "code": "SUCCESS", "message": message, "results": results}
    if stream:
        response["stream"] = True
    return response


def failure(request_id: object, error: ControlError) -> dict:
    return {
        "id": request_id,
        "status": error.status,
        "code": error.code,
        "message": error.message,
        "results": None,
    }


def stream_item(request_id: object, event: str, data: object) -> dict:
    return {"id": request_id, "event": event, "data": data}


def encode(obj: object) -> bytes:
    """One line: ensure_ascii keeps control characters from strangers escaped (\\u001b)."""
    return (json.dumps(obj, ensure_ascii=True, separators=(",", ":"), default=str) + "\n").encode("ascii")


# --- requests ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    id: object
    method: str
    params: dict[str, Any]


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_request(line: bytes) -> Request:
    """One request line -> Request, or ControlError(INVALID_REQUEST). The request id is kept
    on the error when it could be read (``error.request_id``)."""
    if len(line) > MAX_LINE:
        raise ControlError(TOO_LARGE, f"request line longer than {MAX_LINE} bytes")
    if too_deep(line):
        raise ControlError(INVALID_REQUEST, "the request is nested too deeply")
    try:
        text = line.decode("utf-8")
        data = json.loads(text, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ControlError(INVALID_REQUEST, "the request is not one line of JSON (UTF-8)") from None
    if not isinstance(data, dict):
        raise ControlError(INVALID_REQUEST, "the request must be a JSON object")
    request_id = data.get("id")
    try:
        if not (request_id is None or isinstance(request_id, str) or _is_int(request_id)):
            request_id = None
            raise ControlError(INVALID_REQUEST, "id: expected a string, an integer or null")
        unknown = sorted(set(data) - {"id", "method", "params"})
        if unknown:
            raise ControlError(INVALID_REQUEST, f"unknown field(s) in the request: {', '.join(unknown)}")
        method = data.get("method")
        if not isinstance(method, str) or not method:
            raise ControlError(INVALID_REQUEST, "method: expected a non-empty string")
        params = data.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ControlError(INVALID_PARAMS, "params: expected a JSON object")
    except ControlError as error:
        error.request_id = request_id  # type: ignore[attr-defined]
        raise
    return Request(request_id, method, params)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- parameters ----------------------------------------------------------------------------
def bind_params(cls: type, params: Mapping[str, Any]) -> Any:
    """Check ``params`` against the dataclass ``cls`` (names, required, types) and build it.
    Unknown names and wrong types are refused, naming the parameter."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(params) - set(fields))
    if unknown:
        expected = ", ".join(fields) or "none"
        raise ControlError(INVALID_PARAMS, f"unknown parameter(s): {', '.join(unknown)} (expected: {expected})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in params:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ControlError(INVALID_PARAMS, f"missing parameter: {name}")
            continue
        values[name] = _check_type(name, params[name], hints[name])
    return cls(**values)


def _check_type(name: str, value: Any, hint: Any) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return None
        if option is str and isinstance(value, str):
            return value
        if option is bool and isinstance(value, bool):
            return value
        if option is int and _is_int(value):
            return value
        if option is float and (_is_int(value) or isinstance(value, float)):
            return float(value)
        if typing.get_origin(option) is list and isinstance(value, list):
            (inner,) = typing.get_args(option)
            return [_check_type(f"{name}[{i}]", item, inner) for i, item in enumerate(value)]
    raise ControlError(INVALID_PARAMS, f"{name}: expected {_describe(hint)}, got {_json_type(value)}")


def _describe(hint: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", type(None): "null"}
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    parts = []
    for option in options:
        if typing.get_origin(option) is list:
            parts.append(f"a list of {names.get(typing.get_args(option)[0], 'values')[2:]}s")
        else:
            parts.append(names.get(option, str(option)))
    return " or ".join(parts)


def _json_type(value: Any) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "a list"
        case dict():
            return "an object"
    return type(value).__name__


# One dataclass per method's parameters. ``session`` None: the default session (the seed's
# ?session=), except for search and events.subscribe, where None means every session.
@dataclass(frozen=True)
class NoParams:
    pass


@dataclass(frozen=True)
class SessionParams:
    session: str


@dataclass(frozen=True)
class AddSessionParams:
    session: str
    label: str = ""


@dataclass(frozen=True)
class RemoveSessionParams:
    session: str
    delete_data: bool = False


@dataclass(frozen=True)
class PairQRParams:
    session: str
    restart: bool = False  # a fresh pairing window even when one is open


@dataclass(frozen=True)
class PairPhoneParams:
    session: str
    phone: str


@dataclass(frozen=True)
class SendParams:
    to: str  # a phone number with country code, or a JID
    text: str
    session: str | None = None
    reply_to: str | None = None
    wait: float = 0.0  # seconds to wait for the server's ack; 0: answer once stored


@dataclass(frozen=True)
class ChatsParams:
    session: str | None = None
    limit: int = 50
    before: str | None = None  # a chat jid: the page after it
    unread_only: bool = False
    query: str = ""  # name or number contains


@dataclass(frozen=True)
class MessagesParams:
    chat: str  # a JID or a phone number
    session: str | None = None
    limit: int = 50
    before: str | None = None  # a message id: the page older than it


@dataclass(frozen=True)
class ReadParams:
    chat: str
    session: str | None = None


@dataclass(frozen=True)
class SearchParams:
    query: str
    session: str | None = None  # None: every session
    limit: int = 20
    order: str = "newest"  # or "relevance" (best match first)


@dataclass(frozen=True)
class SubscribeParams:
    session: str | None = None  # None: every session
    events: list[str] | None = None  # None: all of EVENT_TYPES


@dataclass(frozen=True)
class DemoScanParams:
    session: str
    phone: str | None = None  # the simulated phone; None: the demo account of that session


@dataclass(frozen=True)
class DemoCodeParams:
    session: str


EVENT_TYPES = ("message", "receipt", "update", "status", "sessions", "pairing")
