"""Fuzzing the neonize event mapping: garbled serialized MessageEv / ReceiptEv /
HistorySyncEv bytes parsed with FromString, and well-formed events with random field values,
go through map_event. It must only ever return well-typed domain events (every field of the
type its dataclass declares: a str is a str, never the bytes protobuf hands back for
invalid UTF-8) or [], and never raise.

Bounded for the suite (a few seconds). A longer run: WATUI_FUZZ_EXAMPLES=20000 (see
docs/reliability.md).
"""

from __future__ import annotations

import dataclasses
import enum
import os
import types
import typing
from datetime import datetime

from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from neonize.aioze.events import HistorySyncEv, MessageEv, ReceiptEv
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    FutureProofMessage,
    ImageMessage,
    Message,
    ProtocolMessage,
    ReactionMessage,
)
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import (
    Conversation,
    HistorySync,
    HistorySyncMsg,
    Pushname,
)
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo

from watui.domain import events as domain
from watui.domain.models import Chat
from watui.domain.models import Message as DomainMessage
from watui.engine.neonize.mapping import map_event

from tests.test_neonize_mapping import ALICE_JID, GROUP_JID, T_MS, T_SECONDS, jid, message_ev, receipt_ev

EXAMPLES = int(os.environ.get("WATUI_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(
    max_examples=EXAMPLES or 400,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=EXAMPLES is None,  # the suite is reproducible; a long run explores
)


# --- well-typed: every field of a domain event is of its declared type -------------------------
_HINTS: dict[type, dict[str, object]] = {}


def _conforms(value: object, hint: object) -> bool:
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_conforms(v, args[0]) for v in value)
        return len(args) == len(value) and all(_conforms(v, h) for v, h in zip(value, args, strict=True))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return isinstance(value, hint) or value in {m.value for m in hint}
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return isinstance(value, hint) and well_typed(value) is None
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def well_typed(value: object) -> str | None:
    """None, or the first field that is not of its declared type."""
    cls = type(value)
    hints = _HINTS.get(cls) or _HINTS.setdefault(cls, typing.get_type_hints(cls))
    for f in dataclasses.fields(value):
        field_value = getattr(value, f.name)
        if not _conforms(field_value, hints[f.name]):
            return f"{cls.__name__}.{f.name} = {field_value!r:.80}"
    return None


def check(proto) -> list[domain.Event]:
    events = map_event(proto, own_jid="15550009999:3@s.whatsapp.net")
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, domain.Event)
        problem = well_typed(event)
        assert problem is None, problem
        # what the store keys rows by is text, and what it shows is text
        for message in getattr(event, "messages", ()) + ((event.message,) if hasattr(event, "message") else ()):
            assert isinstance(message, DomainMessage) and isinstance(message.content, str)
        for chat in getattr(event, "chats", ()):
            assert isinstance(chat, Chat)
    return events


# --- seeds: one of each kind of event the mapping handles ----------------------------------------
def _seeds() -> list[tuple[type, bytes]]:
    reply = Message(extendedTextMessage=ExtendedTextMessage(
        text="yes", contextInfo=ContextInfo(stanzaID="ORIG1", participant=ALICE_JID,
                                            quotedMessage=Message(conversation="Dinner at 8?"))))
    document = Message(documentMessage=DocumentMessage(fileName="report.pdf", caption="Q3",
                                                       mimetype="application/pdf", fileLength=2048))
    image = Message(ephemeralMessage=FutureProofMessage(message=Message(imageMessage=ImageMessage(
        caption="sunset", mimetype="image/jpeg", fileLength=48213))))
    reaction = Message(reactionMessage=ReactionMessage(
        key=MessageKey(remoteJID=ALICE_JID, fromMe=True, ID="MINE1"), text="👍", senderTimestampMS=T_MS))
    revoke = Message(protocolMessage=ProtocolMessage(type=ProtocolMessage.REVOKE, key=MessageKey(ID="GONE1")))
    edit = Message(protocolMessage=ProtocolMessage(type=ProtocolMessage.MESSAGE_EDIT, key=MessageKey(ID="O1"),
                                                   editedMessage=Message(conversation="fixed"), timestampMS=T_MS))
    messages = [
        message_ev(Message(conversation="hello")),
        message_ev(reply, chat=jid("120363025246125486", "g.us"), is_group=True),
        message_ev(document),
        message_ev(image),
        message_ev(reaction),
        message_ev(revoke),
        message_ev(edit),
    ]
    history = HistorySyncEv(Data=HistorySync(
        syncType=HistorySync.INITIAL_BOOTSTRAP, progress=40,
        pushnames=[Pushname(ID=ALICE_JID, pushname="Alice")],
        conversations=[
            Conversation(ID=ALICE_JID, name="Alice", unreadCount=2, messages=[
                HistorySyncMsg(msgOrderID=1, message=WebMessageInfo(
                    key=MessageKey(remoteJID=ALICE_JID, fromMe=False, ID="OLD1"),
                    message=Message(conversation="old"), messageTimestamp=T_SECONDS)),
                HistorySyncMsg(msgOrderID=2, message=WebMessageInfo(
                    key=MessageKey(remoteJID=ALICE_JID, fromMe=True, ID="OLD2"),
                    message=document, messageTimestamp=T_SECONDS + 1, status=WebMessageInfo.READ)),
            ]),
            Conversation(ID=GROUP_JID, name="Group", messages=[
                HistorySyncMsg(msgOrderID=3, message=WebMessageInfo(
                    key=MessageKey(remoteJID=GROUP_JID, participant=ALICE_JID, ID="OLD3"),
                    message=reply, messageTimestamp=T_SECONDS + 2, pushName="Al")),
            ]),
        ],
    ))
    seeds = [(MessageEv, m.SerializePartialToString()) for m in messages]
    seeds += [(ReceiptEv, receipt_ev(ReceiptEv.READ, ids=("M1", "M2")).SerializePartialToString())]
    seeds += [(HistorySyncEv, history.SerializePartialToString())]
    return seeds


SEEDS = _seeds()


def test_seeds_map_to_events():
    for cls, data in SEEDS:
        assert check(cls.FromString(data)), cls.__name__


@st.composite
def garbled(draw) -> tuple[type, bytes]:
    """A seed with bytes flipped, inserted, deleted or cut off; or random bytes."""
    cls, data = draw(st.sampled_from(SEEDS))
    if draw(st.integers(0, 9)) == 0:
        return cls, draw(st.binary(max_size=400))
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        if not buffer:
            break
        at = draw(st.integers(0, len(buffer) - 1))
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut", "utf8"]))
        if op == "flip":
            buffer[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            buffer[at] = draw(st.integers(0, 255))
        elif op == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buffer[at : at + draw(st.integers(1, 8))]
        elif op == "cut":
            del buffer[at:]
        else:  # make text invalid UTF-8 without touching the framing
            buffer[at] = draw(st.sampled_from([0xFF, 0xC0, 0xED, 0x80]))
    return cls, bytes(buffer)


@FUZZ
@given(garbled())
def test_garbled_events_map_to_well_typed_events_or_nothing(sample):
    cls, data = sample
    try:
        proto = cls.FromString(data)
    except (DecodeError, RuntimeError, ValueError):
        return  # neonize would not have handed it over: nothing to map
    check(proto)


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_ID = st.one_of(st.just(""), _TEXT, st.sampled_from(["3EB0ABC", "M1", "x" * 300]))
_INT64 = st.integers(-(2**63), 2**63 - 1)
_UINT64 = st.integers(0, 2**64 - 1)


@FUZZ
@given(
    text=_TEXT, ident=_ID, pushname=_TEXT, user=_TEXT, server=st.sampled_from(["s.whatsapp.net", "g.us", "lid", "", "x"]),
    device=st.integers(0, 2**32 - 1), timestamp=_INT64, from_me=st.booleans(), kind=st.integers(0, 7),
    filename=_TEXT, length=_UINT64, quoted=_ID,
)
def test_random_field_values_map_to_well_typed_events(text, ident, pushname, user, server, device, timestamp,
                                                        from_me, kind, filename, length, quoted):
    chat = jid(user, server, device)
    context = ContextInfo(stanzaID=quoted, participant=user, quotedMessage=Message(conversation=text))
    bodies = [
        Message(conversation=text),
        Message(extendedTextMessage=ExtendedTextMessage(text=text, contextInfo=context)),
        Message(documentMessage=DocumentMessage(fileName=filename, caption=text, fileLength=length, contextInfo=context)),
        Message(reactionMessage=ReactionMessage(key=MessageKey(ID=ident), text=text, senderTimestampMS=timestamp)),
        Message(protocolMessage=ProtocolMessage(type=ProtocolMessage.REVOKE, key=MessageKey(ID=ident))),
        Message(protocolMessage=ProtocolMessage(type=ProtocolMessage.MESSAGE_EDIT, key=MessageKey(ID=ident),
                                                editedMessage=Message(conversation=text), timestampMS=timestamp)),
    ]
    check(message_ev(bodies[kind % len(bodies)], id=ident, chat=chat, sender=chat, from_me=from_me,
                     timestamp=timestamp, pushname=pushname))
    receipt = receipt_ev(ReceiptEv.READ, ids=(ident,) if ident else ())
    receipt.Timestamp = timestamp
    receipt.MessageSource.Chat.CopyFrom(chat)
    check(receipt)
    history = HistorySyncEv(Data=HistorySync(
        syncType=HistorySync.RECENT, progress=kind,
        pushnames=[Pushname(ID=user, pushname=pushname)],
        conversations=[Conversation(ID=f"{user}@{server}" if server else user, name=pushname,
                                    unreadCount=kind, muteEndTime=length, conversationTimestamp=length,
                                    messages=[HistorySyncMsg(msgOrderID=1, message=WebMessageInfo(
                                        key=MessageKey(remoteJID=user, fromMe=from_me, ID=ident, participant=user),
                                        message=bodies[kind % len(bodies)], messageTimestamp=length,
                                        pushName=pushname))])],
    ))
    check(history)
