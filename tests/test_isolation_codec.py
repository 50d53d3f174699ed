"""The isolation wire format: every domain value round-trips exactly; anything malformed or
hostile is refused with FrameError and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import struct
import types
import typing
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watui.domain import events as ev
from watui.domain.errors import EngineError
from watui.domain.models import Chat, Message, MessageStatus, PageCursor, QuotedMessage
from watui.engine.isolation.codec import (
    ALLOWED,
    MAX_FRAME,
    FrameDecoder,
    FrameError,
    command_frame,
    decode_body,
    decode_event,
    decode_object,
    decode_result,
    decode_value,
    encode_event,
    encode_frame,
    encode_value,
    event_frame,
    parse_child_frame,
    parse_parent_frame,
    read_frame,
    response_frame,
    state_frame,
)
from watui.engine.protocol import ClientState, SendResult

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
EVENT_TYPES = [cls for cls in vars(ev).values() if isinstance(cls, type) and issubclass(cls, ev.Event) and cls is not ev.Event]


def _message(i: int = 0, **changes: object) -> Message:
    fields: dict[str, object] = {
        "id": f"3EB0{i:018X}",
        "chat_jid": "15550001111@s.whatsapp.net",
        "sender": "15550001111@s.whatsapp.net",
        "timestamp": T0 + timedelta(seconds=i),
        "content": f"héllo {i} 👋",
        "media_type": "image",
        "media_key": bytes(range(32)),
        "file_sha256": b"\x00\xff" * 16,
        "file_length": 12345,
        "status": MessageStatus.DELIVERED,
        "edited": True,
        "edited_at": T0 + timedelta(hours=1),
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


def _chat(i: int = 0) -> Chat:
    return Chat(
        jid=f"1203630{i}@g.us",
        name=f"Group {i}",
        last_message_time=T0,
        is_group=True,
        unread_count=i,
        muted_until=T0 + timedelta(days=7),
        created_at=None,
    )


SAMPLES: list[ev.Event] = [
    ev.QRCode("ref,noise,identity,adv", index=2, total=6, expires_in=20.0),
    ev.PairingCode("ABCD-EFGH", "15550001111"),
    ev.PairingWindowClosed(),
    ev.PairSuccess("15550001111:7@s.whatsapp.net", "Me", "android"),
    ev.PairFailure("nope"),
    ev.Connected("15550001111:7@s.whatsapp.net", "Me"),
    ev.Disconnected("engine crashed: exit code -9", retry_in=1.5),
    ev.Disconnected(),
    ev.ConnectFailure("bad", code=401, retry_in=None),
    ev.LoggedOut("unlinked", on_connect=True),
    ev.StreamReplaced(),
    ev.TemporaryBan(code=101, expires_in=3600.0),
    ev.ClientOutdated(),
    ev.MessageReceived(_message(1), chat_name="Alice"),
    ev.MessageEdited("c@s.whatsapp.net", "M1", "new text", "s@s.whatsapp.net", T0),
    ev.MessageRevoked("c@s.whatsapp.net", "M1", "s@s.whatsapp.net", T0),
    ev.Reaction("c@s.whatsapp.net", "M1", "s@s.whatsapp.net", "👍", T0, is_from_me=True),
    ev.Receipt("c@s.whatsapp.net", ("M1", "M2"), ev.ReceiptKind.READ_SELF, "s@s.whatsapp.net", T0),
    ev.DeleteForMe("c@s.whatsapp.net", "M1"),
    ev.SendAcknowledged("c@s.whatsapp.net", "M1", T0),
    ev.SendFailed("c@s.whatsapp.net", "M1", "refused"),
    ev.HistorySyncBatch(
        chats=(_chat(1), _chat(2)),
        messages=(_message(1), _message(2, status=MessageStatus.FAILED, edited_at=None), _message(3, media_key=b"")),
        push_names=(("a@s.whatsapp.net", "Alice"), ("b@s.whatsapp.net", "Bob")),
        sync_type="recent",
        chunk_order=3,
        progress=42.5,
        done=False,
    ),
    ev.PushName("a@s.whatsapp.net", "Alice"),
    ev.Presence("a@s.whatsapp.net", True, last_seen=T0.astimezone(timezone(timedelta(hours=5, minutes=30)))),
    ev.Presence("a@s.whatsapp.net", False),
    ev.ChatPresence("c@g.us", "a@s.whatsapp.net", composing=True, media="audio"),
]


def _through_the_wire(obj: dict[str, object]) -> dict[str, object]:
    frames = FrameDecoder().feed(encode_frame(obj))
    assert len(frames) == 1
    return frames[0]


def _assert_same(a: object, b: object) -> None:
    """Equal, and of exactly the same types all the way down (an int is not a MessageStatus)."""
    assert type(a) is type(b), (a, b)
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, tuple | list):
        assert len(a) == len(b)  # type: ignore[arg-type]
        for x, y in zip(a, b):  # type: ignore[call-overload]
            _assert_same(x, y)
    elif isinstance(a, datetime):
        assert a == b and a.utcoffset() == b.utcoffset()  # type: ignore[union-attr]
    else:
        assert a == b


# --- round trips ---------------------------------------------------------------------------
def test_samples_cover_every_event_type():
    assert {type(e) for e in SAMPLES} == set(EVENT_TYPES)
    assert set(EVENT_TYPES) <= set(ALLOWED.values())
    for cls in (Message, Chat, QuotedMessage, ClientState, SendResult):
        assert ALLOWED[cls.__name__] is cls


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_exactly(event):
    back = decode_event(_through_the_wire(encode_event(event)))
    assert back == event
    _assert_same(back, event)


def test_history_batch_keeps_types_bytes_and_datetimes():
    batch = next(e for e in SAMPLES if isinstance(e, ev.HistorySyncBatch))
    wire = encode_event(batch)
    message_wire = wire["fields"]["messages"][0]["fields"]
    assert message_wire["media_key"] == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    assert message_wire["timestamp"] == "2026-01-02T03:04:06.678901+00:00"
    assert message_wire["status"] == 3
    back = decode_event(json.loads(json.dumps(wire)))
    assert isinstance(back.chats, tuple) and all(isinstance(c, Chat) for c in back.chats)
    assert back.messages[0].status is MessageStatus.DELIVERED
    assert back.messages[1].status is MessageStatus.FAILED and back.messages[1].edited_at is None
    assert back.messages[0].media_key == bytes(range(32))
    assert back.chats[0].muted_until == T0 + timedelta(days=7)
    assert back.push_names == (("a@s.whatsapp.net", "Alice"), ("b@s.whatsapp.net", "Bob"))


def test_receipt_kind_and_offsets_round_trip():
    receipt = decode_event(encode_event(SAMPLES[17]))
    assert receipt.kind is ev.ReceiptKind.READ_SELF
    presence = decode_event(encode_event(SAMPLES[23]))
    assert presence.last_seen.utcoffset() == timedelta(hours=5, minutes=30)


def test_naive_datetime_is_sent_as_utc():
    naive = ev.SendAcknowledged("c", "m", datetime(2026, 1, 1, 12, 0))
    back = decode_event(encode_event(naive))
    assert back.timestamp == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_lone_surrogate_and_unicode_survive_a_frame():
    event = ev.PushName("a@s.whatsapp.net", "bad \udc80 name ✓ 日本")
    assert decode_event(_through_the_wire(event_frame(event))["event"]) == event


def test_protocol_values_round_trip():
    state = ClientState(True, True, "1555:7@s.whatsapp.net", "Me")
    assert decode_object(encode_value(state), ClientState) == state
    result = SendResult("M1", T0)
    assert decode_result("send_text", json.loads(json.dumps(encode_value(result)))) == result
    quoted = QuotedMessage("M0", "s@s.whatsapp.net", "earlier")
    ident, name, args = parse_parent_frame(
        _through_the_wire(command_frame(7, "send_text", {"chat_jid": "c", "text": "t", "message_id": "M1", "quoted": quoted}))
    )
    assert (ident, name) == (7, "send_text")
    assert args == {"chat_jid": "c", "text": "t", "message_id": "M1", "quoted": quoted}
    _, _, args = parse_parent_frame(
        command_frame(8, "mark_read", {"chat_jid": "c", "message_ids": ["a", "b"], "sender": "s"})
    )
    assert args["message_ids"] == ("a", "b")


def test_child_frames_parse():
    state = ClientState(True, False, "d", "p")
    frame = parse_child_frame(_through_the_wire(event_frame(SAMPLES[5], state)))
    assert frame.event == SAMPLES[5] and frame.state == state and not frame.is_response
    frame = parse_child_frame(_through_the_wire(response_frame(3, result=encode_value(None), state=state)))
    assert frame.is_response and frame.ok and frame.id == 3 and frame.state == state
    frame = parse_child_frame(_through_the_wire(response_frame(4, error="not connected")))
    assert frame.is_response and not frame.ok and frame.error == "not connected"
    assert parse_child_frame(state_frame(state)).state == state


# --- malformed input -------------------------------------------------------------------------
def test_frame_error_is_an_engine_error():
    assert issubclass(FrameError, EngineError)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (struct.pack(">I", MAX_FRAME + 1), "over the limit"),
        (struct.pack(">I", 0xFFFFFFFF) + b"{}", "over the limit"),
        (struct.pack(">I", 0), "too short"),
        (struct.pack(">I", 5) + b"{nope", "bad JSON"),
        (struct.pack(">I", 4) + b"\xff\xfe{}", "bad JSON"),
        (struct.pack(">I", 2) + b"[]", "not a JSON object"),
        (struct.pack(">I", 3) + b"123", "not a JSON object"),
        (struct.pack(">I", 9) + b'{"a":NaN}', "bad JSON"),
        (struct.pack(">I", 14) + b'{"a":Infinity}', "bad JSON"),
    ],
)
def test_bad_frames_are_rejected(data, match):
    with pytest.raises(FrameError, match=match):
        FrameDecoder().feed(data)


def test_decoder_handles_split_and_batched_frames_then_stays_broken():
    one, two = encode_frame({"a": 1}), encode_frame({"b": [1, 2]})
    decoder = FrameDecoder()
    got = []
    for byte in one + two:
        got += decoder.feed(bytes([byte]))
    assert got == [{"a": 1}, {"b": [1, 2]}] and decoder.pending == 0
    with pytest.raises(FrameError):
        decoder.feed(struct.pack(">I", 1) + b"x")
    with pytest.raises(FrameError, match="broken"):
        decoder.feed(one)


def test_small_limit_and_oversize_encode():
    with pytest.raises(FrameError, match="over the limit"):
        encode_frame({"text": "x" * 100}, max_size=50)
    with pytest.raises(FrameError, match="over the limit"):
        FrameDecoder(max_size=50).feed(encode_frame({"text": "x" * 100}))
    with pytest.raises(FrameError):
        encode_frame({"x": float("nan")})


async def test_read_frame_from_a_stream():
    reader = asyncio.StreamReader()
    reader.feed_data(encode_frame({"a": 1}) + encode_frame({"b": 2})[:6])
    reader.feed_eof()
    assert await read_frame(reader) == {"a": 1}
    assert await read_frame(reader) is None  # truncated at EOF: the writer died
    reader = asyncio.StreamReader()
    reader.feed_data(struct.pack(">I", MAX_FRAME + 1))
    with pytest.raises(FrameError):
        await read_frame(reader)


def _wire(name: str, **fields: object) -> dict[str, object]:
    return {"type": name, "fields": fields}


GOOD_ACK = {"chat_jid": "c", "message_id": "m", "timestamp": "2026-01-01T00:00:00+00:00"}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_wire("os.system", cmd="rm -rf /"), "unknown type"),
        (_wire("__import__"), "unknown type"),
        (_wire("PageCursor", timestamp="2026-01-01T00:00:00+00:00", key="k"), "unknown type"),
        (_wire("Message", **{"id": "x", "chat_jid": "c", "sender": "s", "timestamp": "2026-01-01T00:00:00+00:00"}), "expected Event"),
        ({"type": "Connected"}, "an object"),
        ({"type": "Connected", "fields": {}, "extra": 1}, "an object"),
        ({"type": 5, "fields": {}}, "type"),
        (["Connected", {}], "an object"),
        (_wire("Connected", jid=5), "a string"),
        (_wire("Connected", jid="j", evil="x"), "no field 'evil'"),
        (_wire("SendAcknowledged", chat_jid="c", message_id="m"), "lacks field 'timestamp'"),
        (_wire("SendAcknowledged", **{**GOOD_ACK, "timestamp": "2026-01-01T00:00:00"}), "offset"),
        (_wire("SendAcknowledged", **{**GOOD_ACK, "timestamp": "yesterday"}), "ISO datetime"),
        (_wire("SendAcknowledged", **{**GOOD_ACK, "timestamp": 1700000000}), "ISO datetime"),
        (_wire("QRCode", code="c", index=True), "an integer"),
        (_wire("QRCode", code="c", index=1.5), "an integer"),
        (_wire("QRCode", code="c", expires_in="soon"), "a number"),
        (_wire("QRCode", code="c", expires_in=1e400), "a finite number"),
        (_wire("QRCode", code="c", expires_in=10**400), "number"),
        (_wire("LoggedOut", on_connect=1), "a boolean"),
        (_wire("Receipt", chat_jid="c", message_ids="m1", kind="read", sender="s", timestamp=GOOD_ACK["timestamp"]), "an array"),
        (_wire("Receipt", chat_jid="c", message_ids=["m1"], kind="seen", sender="s", timestamp=GOOD_ACK["timestamp"]), "ReceiptKind"),
        (_wire("Receipt", chat_jid="c", message_ids=[1], kind="read", sender="s", timestamp=GOOD_ACK["timestamp"]), "a string"),
        (_wire("HistorySyncBatch", push_names=[["a", "b", "c"]]), "array of 2"),
        (_wire("HistorySyncBatch", chats=[_wire("Connected")]), "expected Chat"),
        (_wire("HistorySyncBatch", messages=[{"type": "Message", "fields": {"id": "x"}}]), "lacks field"),
        (
            _wire("MessageReceived", message=_wire("Message", id="x", chat_jid="c", sender="s", timestamp=GOOD_ACK["timestamp"], media_key="!!notbase64")),
            "base64",
        ),
        (
            _wire("MessageReceived", message=_wire("Message", id="x", chat_jid="c", sender="s", timestamp=GOOD_ACK["timestamp"], status=9)),
            "MessageStatus",
        ),
        (_wire("Presence", jid="j", available=True, last_seen=0), "ISO datetime"),
        (_wire("Disconnected", retry_in="1"), "expected"),
    ],
)
def test_wrong_values_are_rejected(data, match):
    with pytest.raises(FrameError, match=match):
        decode_event(data)


def test_deep_nesting_is_rejected():
    deep: object = "x"
    for _ in range(100):
        deep = [deep]
    with pytest.raises(FrameError):
        decode_value(tuple[tuple[str, ...], ...], deep)
    with pytest.raises(FrameError):
        decode_body(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    "obj",
    [
        {"id": 1, "cmd": "exec", "args": {}},
        {"id": -1, "cmd": "ping", "args": {}},
        {"id": True, "cmd": "ping", "args": {}},
        {"id": 1, "cmd": "ping", "args": {"x": 1}},
        {"id": 1, "cmd": "send_text", "args": {"chat_jid": "c", "text": 1, "message_id": "m", "quoted": None}},
        {"id": 1, "cmd": "ping"},
    ],
)
def test_bad_commands_are_rejected(obj):
    with pytest.raises(FrameError):
        parse_parent_frame(obj)


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"id": 1},
        {"id": 1, "ok": "yes"},
        {"id": 1, "ok": False},
        {"id": 1, "ok": False, "error": 5},
        {"id": 1, "ok": True, "result": None, "event": None},
        {"event": _wire("Connected"), "extra": 1},
        {"event": _wire("Message")},
        {"state": _wire("Connected")},
        {"state": {"type": "ClientState", "fields": {"is_connected": "yes"}}},
    ],
)
def test_bad_child_frames_are_rejected(obj):
    with pytest.raises(FrameError):
        parse_child_frame(obj)


def test_results_are_checked():
    with pytest.raises(FrameError):
        decode_result("send_text", {"type": "ClientState", "fields": {}})
    with pytest.raises(FrameError):
        decode_result("pair_phone", 5)
    with pytest.raises(FrameError):
        decode_result("connect", "surprise")
    with pytest.raises(FrameError):
        command_frame(1, "send_text", {"chat_jid": "c"})
    with pytest.raises(FrameError):
        encode_value(PageCursor(T0, "k"))  # not on the allowlist
    with pytest.raises(FrameError):
        encode_value(object())


# --- properties ------------------------------------------------------------------------------
_offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.one_of(st.just(UTC), _offsets)
)
_text = st.text(st.characters(codec=None), max_size=20)


def _strategy(hint: object) -> st.SearchStrategy[object]:  # noqa: PLR0911
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return st.one_of(*(_strategy(a) for a in typing.get_args(hint)))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(_strategy(args[0]), max_size=3).map(tuple)
        return st.tuples(*(_strategy(a) for a in args))
    if hint is type(None):
        return st.none()
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint))
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(min_value=-(2**63), max_value=2**63)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is str:
        return _text
    if hint is bytes:
        return st.binary(max_size=40)
    if hint is datetime:
        return _datetimes
    assert isinstance(hint, type) and dataclasses.is_dataclass(hint), hint
    hints = typing.get_type_hints(hint)
    return st.builds(hint, **{f.name: st.deferred(lambda h=hints[f.name]: _strategy(h)) for f in dataclasses.fields(hint)})


_any_allowed = st.sampled_from(sorted(ALLOWED.values(), key=lambda c: c.__name__)).flatmap(_strategy)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_any_allowed)
def test_property_any_allowed_value_round_trips(value):
    back = decode_object(_through_the_wire({"v": encode_value(value)})["v"])
    _assert_same(back, value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_property_garbage_bytes_only_raise_frame_error(data):
    with contextlib.suppress(FrameError):
        FrameDecoder().feed(data)
    with contextlib.suppress(FrameError):
        decode_body(data)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_property_garbage_json_only_raises_frame_error(obj):
    for call in (
        lambda: parse_child_frame(obj if isinstance(obj, dict) else {"event": obj}),
        lambda: parse_parent_frame(obj if isinstance(obj, dict) else {"id": 1, "cmd": "send_text", "args": obj}),
        lambda: decode_event(obj),
        lambda: decode_object({"type": "HistorySyncBatch", "fields": obj}),
    ):
        with contextlib.suppress(FrameError):
            call()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_property_mutated_events_decode_or_raise_frame_error(event, data):
    wire = encode_event(event)
    fields = wire["fields"]
    if fields:
        name = data.draw(st.sampled_from(sorted(fields)))
        fields[name] = data.draw(_json)
    try:
        back = decode_event(wire)
    except FrameError:
        return
    assert isinstance(back, ev.Event)
