"""neonize protobuf events -> domain events, with REAL neonize 0.5.2 protobuf objects
(built as in neonize-notes section 6), plus one run through neonize's real ctypes dispatch."""

from __future__ import annotations

import asyncio
import ctypes
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from neonize.aioze.events import (
    ChatPresenceEv,
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    HistorySyncEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    PresenceEv,
    QREv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import JID as JIDProto
from neonize.proto.Neonize_pb2 import ConnectFailureReason, MessageInfo, MessageSource
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    FutureProofMessage,
    ImageMessage,
    Message,
    ProtocolMessage,
    ReactionMessage,
    SenderKeyDistributionMessage,
    StickerMessage,
    VideoMessage,
)
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import (
    Conversation,
    HistorySync,
    HistorySyncMsg,
    PhoneNumberToLIDMapping,
    Pushname,
)
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo
from neonize.utils import build_jid

from watui.domain import events as ev
from watui.domain.models import MediaType, MessageStatus
from watui.engine.neonize.convert import jid_to_str, unwrap_message
from watui.engine.neonize.history import MUTED_FOREVER, muted_until
from watui.engine.neonize.mapping import (
    map_connection,
    map_event,
    map_history_sync,
    map_message,
    map_receipt,
)

REPO = Path(__file__).resolve().parents[1]

ALICE = "15550002222"
ALICE_JID = f"{ALICE}@s.whatsapp.net"
BOB = "15550003333"
BOB_JID = f"{BOB}@s.whatsapp.net"
ME = "15550009999"
ME_JID = f"{ME}@s.whatsapp.net"
GROUP_JID = "120363025246125486@g.us"
ALICE_LID = "987654321012345@lid"

T_SECONDS = 1732480000
T_MS = T_SECONDS * 1000
T = datetime(2024, 11, 24, 20, 26, 40, tzinfo=UTC)


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> JIDProto:
    return JIDProto(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


def message_ev(
    message: Message | None = None,
    *,
    id: str = "3EB0ABC",
    chat: JIDProto | None = None,
    sender: JIDProto | None = None,
    from_me: bool = False,
    is_group: bool = False,
    timestamp: int = T_MS,
    pushname: str = "Alice",
    sender_alt: JIDProto | None = None,
    recipient_alt: JIDProto | None = None,
    **extra,
) -> MessageEv:
    alice = build_jid(ALICE)
    source = MessageSource(
        Chat=chat or alice, Sender=sender or alice, IsFromMe=from_me, IsGroup=is_group
    )
    if sender_alt is not None:
        source.SenderAlt.CopyFrom(sender_alt)
    if recipient_alt is not None:
        source.RecipientAlt.CopyFrom(recipient_alt)
    info = MessageInfo(ID=id, Timestamp=timestamp, Pushname=pushname, MessageSource=source)
    if message is None:
        return MessageEv(Info=info, **extra)
    return MessageEv(Info=info, Message=message, **extra)


def one(events: list[ev.Event]):
    assert len(events) == 1, events
    return events[0]


# --- JIDs and unwrapping -----------------------------------------------------------------


def test_jid_to_str_formats_devices_and_empty_jids():
    assert jid_to_str(jid(ALICE, device=3)) == f"{ALICE}:3@s.whatsapp.net"
    assert jid_to_str(jid(ALICE, device=3), non_ad=True) == ALICE_JID
    assert jid_to_str(jid("120363025246125486", "g.us")) == GROUP_JID
    assert jid_to_str(JIDProto()) == ""
    assert jid_to_str(JIDProto(User="", Server="", IsEmpty=True)) == ""
    assert jid_to_str(build_jid(ALICE)) == ALICE_JID


def test_unwrap_nested_wrappers():
    inner = Message(conversation="deep")
    wrapped = Message(
        ephemeralMessage=FutureProofMessage(
            message=Message(viewOnceMessageV2=FutureProofMessage(message=inner))
        )
    )
    assert unwrap_message(wrapped) == inner
    assert unwrap_message(inner) is inner


# --- messages ----------------------------------------------------------------------------


def test_conversation_message():
    received = one(map_message(message_ev(Message(conversation="hello"), sender=jid(ALICE, device=7))))
    assert isinstance(received, ev.MessageReceived)
    message = received.message
    assert message.id == "3EB0ABC"
    assert message.chat_jid == ALICE_JID
    assert message.sender == ALICE_JID  # device dropped
    assert message.content == "hello"
    assert message.timestamp == T  # milliseconds
    assert message.timestamp.tzinfo is UTC
    assert message.push_name == "Alice"
    assert message.is_from_me is False
    assert message.status == MessageStatus.RECEIVED
    assert message.media_type == MediaType.NONE
    assert received.chat_name == ""


def test_own_message_from_another_device():
    event = message_ev(
        Message(conversation="sent from phone"),
        chat=build_jid(ALICE),
        sender=jid(ME, device=0),
        from_me=True,
        pushname="Me",
    )
    message = one(map_message(event)).message
    assert message.is_from_me is True
    assert message.sender == ME_JID
    assert message.chat_jid == ALICE_JID
    assert message.status == MessageStatus.SENT


def test_extended_text_reply():
    reply = Message(
        extendedTextMessage=ExtendedTextMessage(
            text="yes, see you there",
            contextInfo=ContextInfo(
                stanzaID="ORIG1",
                participant=f"{BOB}:4@s.whatsapp.net",
                quotedMessage=Message(conversation="Dinner  at\n8?"),
            ),
        )
    )
    message = one(map_message(message_ev(reply))).message
    assert message.content == "yes, see you there"
    assert message.quoted_message_id == "ORIG1"
    assert message.quoted_sender == BOB_JID
    assert message.quoted_preview == "Dinner at 8?"


def test_reply_quoting_media_and_reply_on_a_caption():
    reply = Message(
        imageMessage=ImageMessage(
            caption="this one",
            mimetype="image/jpeg",
            contextInfo=ContextInfo(
                stanzaID="ORIG2",
                participant=ALICE_JID,
                quotedMessage=Message(documentMessage=DocumentMessage(fileName="a.pdf")),
            ),
        )
    )
    message = one(map_message(message_ev(reply))).message
    assert (message.content, message.media_type) == ("this one", MediaType.IMAGE)
    assert (message.quoted_message_id, message.quoted_sender) == ("ORIG2", ALICE_JID)
    assert message.quoted_preview == "[document]"


MEDIA_COMMON = dict(
    URL="https://mmg.whatsapp.net/v/t62/abc.enc",
    mediaKey=b"k" * 32,
    fileSHA256=b"s" * 32,
    fileEncSHA256=b"e" * 32,
)


@pytest.mark.parametrize(
    ("message", "media_type", "content", "mimetype", "filename", "length"),
    [
        (
            Message(imageMessage=ImageMessage(caption="sunset", mimetype="image/jpeg", fileLength=48213, **MEDIA_COMMON)),
            MediaType.IMAGE, "sunset", "image/jpeg", "", 48213,
        ),
        (
            Message(videoMessage=VideoMessage(caption="clip", mimetype="video/mp4", fileLength=9_000_000, **MEDIA_COMMON)),
            MediaType.VIDEO, "clip", "video/mp4", "", 9_000_000,
        ),
        (
            Message(audioMessage=AudioMessage(mimetype="audio/mpeg", fileLength=3_100_000, PTT=False, **MEDIA_COMMON)),
            MediaType.AUDIO, "", "audio/mpeg", "", 3_100_000,
        ),
        (
            Message(audioMessage=AudioMessage(mimetype="audio/ogg; codecs=opus", fileLength=12_345, PTT=True, **MEDIA_COMMON)),
            MediaType.VOICE, "", "audio/ogg; codecs=opus", "", 12_345,
        ),
        (
            Message(documentMessage=DocumentMessage(fileName="report.pdf", caption="Q3", mimetype="application/pdf", fileLength=2_097_152, **MEDIA_COMMON)),
            MediaType.DOCUMENT, "Q3", "application/pdf", "report.pdf", 2_097_152,
        ),
        (
            Message(stickerMessage=StickerMessage(mimetype="image/webp", fileLength=20_480, **MEDIA_COMMON)),
            MediaType.STICKER, "", "image/webp", "", 20_480,
        ),
    ],
    ids=["image", "video", "audio", "voice", "document", "sticker"],
)
def test_media_messages(message, media_type, content, mimetype, filename, length):
    result = one(map_message(message_ev(message))).message
    assert result.media_type == media_type
    assert result.content == content
    assert result.mimetype == mimetype
    assert result.filename == filename
    assert result.file_length == length
    assert result.url == MEDIA_COMMON["URL"]
    assert result.media_key == MEDIA_COMMON["mediaKey"]
    assert result.file_sha256 == MEDIA_COMMON["fileSHA256"]
    assert result.file_enc_sha256 == MEDIA_COMMON["fileEncSHA256"]


@pytest.mark.parametrize(("emoji", "expected"), [("👍", "👍"), ("", "")], ids=["add", "remove"])
def test_reaction(emoji, expected):
    reaction = Message(
        reactionMessage=ReactionMessage(
            key=MessageKey(remoteJID=ALICE_JID, fromMe=True, ID="MINE1"),
            text=emoji,
            senderTimestampMS=T_MS + 5000,
        )
    )
    result = one(map_message(message_ev(reaction, id="REACT1")))
    assert result == ev.Reaction(
        chat_jid=ALICE_JID,
        message_id="MINE1",
        sender=ALICE_JID,
        emoji=expected,
        timestamp=datetime(2024, 11, 24, 20, 26, 45, tzinfo=UTC),
        is_from_me=False,
    )


def test_revoke():
    revoke = Message(
        protocolMessage=ProtocolMessage(
            type=ProtocolMessage.REVOKE, key=MessageKey(remoteJID=ALICE_JID, fromMe=False, ID="GONE1")
        )
    )
    result = one(map_message(message_ev(revoke, id="REVOKER")))
    assert result == ev.MessageRevoked(ALICE_JID, "GONE1", ALICE_JID, T)


@pytest.mark.parametrize(
    "new_content",
    [Message(conversation="fixed typo"), Message(extendedTextMessage=ExtendedTextMessage(text="fixed typo"))],
    ids=["conversation", "extended"],
)
def test_edit(new_content):
    edit = Message(
        protocolMessage=ProtocolMessage(
            type=ProtocolMessage.MESSAGE_EDIT,
            key=MessageKey(remoteJID=ALICE_JID, fromMe=False, ID="ORIG9"),
            editedMessage=new_content,
            timestampMS=T_MS + 60_000,
        )
    )
    event = message_ev(edit, id="EDIT1", IsEdit=True)
    event.Info.Edit = "1"
    result = one(map_message(event))
    assert result == ev.MessageEdited(
        chat_jid=ALICE_JID,
        message_id="ORIG9",
        content="fixed typo",
        sender=ALICE_JID,
        edited_at=datetime(2024, 11, 24, 20, 27, 40, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "message",
    [
        Message(senderKeyDistributionMessage=SenderKeyDistributionMessage(groupID=GROUP_JID)),
        Message(),
        Message(protocolMessage=ProtocolMessage(type=ProtocolMessage.EPHEMERAL_SETTING)),
        Message(protocolMessage=ProtocolMessage(key=MessageKey(ID="X"))),  # no type: not a revoke
        Message(conversation=""),
        Message(extendedTextMessage=ExtendedTextMessage(text="")),
    ],
    ids=["key-distribution", "empty", "ephemeral-setting", "untyped-protocol", "blank", "blank-extended"],
)
def test_messages_without_content_give_nothing(message):
    assert map_message(message_ev(message)) == []


def test_raw_is_unwrapped_when_message_is_absent():
    raw = Message(ephemeralMessage=FutureProofMessage(message=Message(conversation="from raw")))
    event = message_ev(None, Raw=raw)
    assert one(map_message(event)).message.content == "from raw"


def test_group_message_sender_is_the_participant():
    event = message_ev(
        Message(conversation="hi all"),
        chat=jid("120363025246125486", "g.us"),
        sender=jid(BOB, device=2),
        is_group=True,
        pushname="Bob",
    )
    message = one(map_message(event)).message
    assert (message.chat_jid, message.sender, message.push_name) == (GROUP_JID, BOB_JID, "Bob")


# --- @lid ----------------------------------------------------------------------------------


def test_lid_chat_and_sender_resolved_via_sender_alt():
    lid = jid("987654321012345", "lid", device=1)
    event = message_ev(
        Message(conversation="hi from a lid"),
        chat=jid("987654321012345", "lid"),
        sender=lid,
        sender_alt=build_jid(ALICE),
    )
    calls: list[str] = []
    message = one(map_message(event, resolve_lid=lambda j: calls.append(j) or None)).message
    assert (message.chat_jid, message.sender) == (ALICE_JID, ALICE_JID)
    assert calls == []  # the alt JID was enough


def test_own_message_in_lid_chat_resolved_via_recipient_alt():
    event = message_ev(
        Message(conversation="to a lid"),
        chat=jid("987654321012345", "lid"),
        sender=jid(ME),
        from_me=True,
        recipient_alt=build_jid(ALICE),
    )
    message = one(map_message(event)).message
    assert (message.chat_jid, message.sender) == (ALICE_JID, ME_JID)


def test_lid_resolved_via_callable_or_kept():
    event = message_ev(
        Message(conversation="hi"), chat=jid("987654321012345", "lid"), sender=jid("987654321012345", "lid", 3)
    )
    calls: list[str] = []

    def resolve(lid: str) -> str | None:
        calls.append(lid)
        return ALICE_JID if lid == ALICE_LID else None

    message = one(map_message(event, resolve_lid=resolve)).message
    assert (message.chat_jid, message.sender) == (ALICE_JID, ALICE_JID)
    assert calls == [ALICE_LID]  # asked once, remembered for the sender
    kept = one(map_message(event)).message
    assert (kept.chat_jid, kept.sender) == (ALICE_LID, ALICE_LID)

    def broken(lid: str) -> str | None:
        raise RuntimeError("lookup failed")

    assert one(map_message(event, resolve_lid=broken)).message.chat_jid == ALICE_LID


def test_group_lid_sender_resolved_via_sender_alt():
    event = message_ev(
        Message(conversation="group lid"),
        chat=jid("120363025246125486", "g.us"),
        sender=jid("987654321012345", "lid"),
        is_group=True,
        sender_alt=build_jid(BOB),
    )
    message = one(map_message(event)).message
    assert (message.chat_jid, message.sender) == (GROUP_JID, BOB_JID)


# --- receipts ------------------------------------------------------------------------------


def receipt_ev(type_: int | None = None, ids=("M1",), **source) -> ReceiptEv:
    src = MessageSource(Chat=build_jid(ALICE), Sender=build_jid(ALICE), IsFromMe=False, **source)
    receipt = ReceiptEv(MessageSource=src, MessageIDs=list(ids), Timestamp=T_SECONDS)
    if type_ is not None:
        receipt.Type = type_
    return receipt


@pytest.mark.parametrize(
    ("type_", "kind"),
    [
        (ReceiptEv.DELIVERED, ev.ReceiptKind.DELIVERED),
        (ReceiptEv.READ, ev.ReceiptKind.READ),
        (ReceiptEv.READ_SELF, ev.ReceiptKind.READ_SELF),
        (ReceiptEv.PLAYED, ev.ReceiptKind.PLAYED),
        (None, ev.ReceiptKind.DELIVERED),
    ],
    ids=["delivered", "read", "read-self", "played", "absent-type"],
)
def test_receipt_kinds(type_, kind):
    receipt = map_receipt(receipt_ev(type_))
    assert receipt == ev.Receipt(ALICE_JID, ("M1",), kind, ALICE_JID, T)  # seconds


def test_receipt_for_several_ids():
    receipt = map_receipt(receipt_ev(ReceiptEv.READ, ids=("M1", "M2", "M3")))
    assert receipt is not None
    assert receipt.message_ids == ("M1", "M2", "M3")
    assert map_event(receipt_ev(ReceiptEv.READ, ids=("M1", "M2"))) == [
        ev.Receipt(ALICE_JID, ("M1", "M2"), ev.ReceiptKind.READ, ALICE_JID, T)
    ]


@pytest.mark.parametrize(
    "type_", [ReceiptEv.SENDER, ReceiptEv.RETRY, ReceiptEv.SERVER_ERROR, ReceiptEv.INACTIVE, ReceiptEv.HISTORY_SYNC]
)
def test_non_delivery_receipts_are_skipped(type_):
    assert map_receipt(receipt_ev(type_)) is None
    assert map_event(receipt_ev(type_)) == []


def test_receipt_without_ids_is_skipped():
    assert map_receipt(receipt_ev(ReceiptEv.READ, ids=())) is None


# --- history sync --------------------------------------------------------------------------


def web_message(
    id: str,
    message: Message | None,
    *,
    remote: str = ALICE_JID,
    from_me: bool = False,
    participant: str = "",
    ts: int = T_SECONDS,
    **fields,
) -> HistorySyncMsg:
    info = WebMessageInfo(
        key=MessageKey(remoteJID=remote, fromMe=from_me, ID=id, participant=participant),
        messageTimestamp=ts,
        **fields,
    )
    if message is not None:
        info.message.CopyFrom(message)
    return HistorySyncMsg(msgOrderID=1, message=info)


def test_history_example_from_the_notes():
    hs_ev = HistorySyncEv(Data=HistorySync(syncType=HistorySync.INITIAL_BOOTSTRAP, conversations=[Conversation(
        ID="15550002222@s.whatsapp.net", name="Alice", messages=[HistorySyncMsg(msgOrderID=1, message=WebMessageInfo(
            key=MessageKey(remoteJID="15550002222@s.whatsapp.net", fromMe=False, ID="OLD1"),
            message=Message(ephemeralMessage=FutureProofMessage(message=Message(conversation="old"))),
            messageTimestamp=1732470000))])]))
    batch = map_history_sync(hs_ev)
    assert batch.sync_type == "initial_bootstrap"
    (chat,) = batch.chats
    (message,) = batch.messages
    assert (chat.jid, chat.name) == (ALICE_JID, "Alice")
    assert (message.id, message.content, message.sender) == ("OLD1", "old", ALICE_JID)
    assert message.timestamp == datetime.fromtimestamp(1732470000, UTC)
    assert chat.last_message_time == message.timestamp
    assert chat.last_message_id == "OLD1"


def test_history_unwraps_wrappers_and_skips_stubs():
    image = ImageMessage(caption="once", mimetype="image/jpeg", fileLength=1000, **MEDIA_COMMON)
    document = DocumentMessage(fileName="notes.txt", caption="the notes", mimetype="text/plain", fileLength=77)
    messages = [
        web_message("VO1", Message(viewOnceMessage=FutureProofMessage(message=Message(imageMessage=image)))),
        web_message("VO2", Message(viewOnceMessageV2=FutureProofMessage(message=Message(imageMessage=image)))),
        web_message(
            "VO3", Message(viewOnceMessageV2Extension=FutureProofMessage(message=Message(
                audioMessage=AudioMessage(PTT=True, mimetype="audio/ogg", fileLength=5)))),
        ),
        web_message("DOC1", Message(documentWithCaptionMessage=FutureProofMessage(
            message=Message(documentMessage=document)))),
        web_message(
            "EPH1",
            Message(ephemeralMessage=FutureProofMessage(message=Message(
                extendedTextMessage=ExtendedTextMessage(text="reply", contextInfo=ContextInfo(
                    stanzaID="DOC1", participant=ALICE_JID, quotedMessage=Message(conversation="q")))))),
        ),
        web_message("STUB1", None, messageStubType=WebMessageInfo.GROUP_PARTICIPANT_ADD),
        web_message("KEYS", Message(senderKeyDistributionMessage=SenderKeyDistributionMessage(groupID="x"))),
        web_message("", Message(conversation="no id")),
    ]
    batch = map_history_sync(HistorySyncEv(Data=HistorySync(
        syncType=HistorySync.RECENT, conversations=[Conversation(ID=ALICE_JID, messages=messages)])))
    by_id = {m.id: m for m in batch.messages}
    assert set(by_id) == {"VO1", "VO2", "VO3", "DOC1", "EPH1"}
    assert (by_id["VO1"].media_type, by_id["VO1"].content, by_id["VO1"].file_length) == (MediaType.IMAGE, "once", 1000)
    assert by_id["VO2"].media_key == MEDIA_COMMON["mediaKey"]
    assert by_id["VO3"].media_type == MediaType.VOICE
    doc = by_id["DOC1"]
    assert (doc.media_type, doc.filename, doc.content, doc.file_length) == (MediaType.DOCUMENT, "notes.txt", "the notes", 77)
    assert (by_id["EPH1"].content, by_id["EPH1"].quoted_message_id, by_id["EPH1"].quoted_preview) == ("reply", "DOC1", "q")
    assert batch.sync_type == "recent"


def test_history_edits_and_revokes_apply_to_messages_in_the_batch():
    edit = Message(editedMessage=FutureProofMessage(message=Message(protocolMessage=ProtocolMessage(
        type=ProtocolMessage.MESSAGE_EDIT, key=MessageKey(remoteJID=ALICE_JID, ID="E1"),
        editedMessage=Message(conversation="after"), timestampMS=(T_SECONDS + 30) * 1000))))
    messages = [
        web_message("EDIT", edit, ts=T_SECONDS + 30),  # newest first, as phones send them
        web_message("E1", Message(conversation="before")),
        web_message("R1", None, messageStubType=WebMessageInfo.REVOKE),
    ]
    batch = map_history_sync(HistorySyncEv(Data=HistorySync(conversations=[Conversation(ID=ALICE_JID, messages=messages)])))
    by_id = {m.id: m for m in batch.messages}
    assert set(by_id) == {"E1", "R1"}
    assert (by_id["E1"].content, by_id["E1"].edited) == ("after", True)
    assert by_id["E1"].edited_at == datetime.fromtimestamp(T_SECONDS + 30, UTC)
    assert (by_id["R1"].deleted, by_id["R1"].content) == (True, "")


def test_history_seconds_and_live_milliseconds_give_the_same_time():
    live = one(map_message(message_ev(Message(conversation="x"), timestamp=T_MS + 250))).message
    batch = map_history_sync(HistorySyncEv(Data=HistorySync(conversations=[
        Conversation(ID=ALICE_JID, messages=[web_message("H1", Message(conversation="x"), ts=T_SECONDS)])])))
    assert batch.messages[0].timestamp == T
    assert live.timestamp.replace(microsecond=0) == batch.messages[0].timestamp
    assert live.timestamp.microsecond == 250_000


def test_history_group_senders_statuses_and_push_names():
    messages = [
        web_message("G1", Message(conversation="from bob"), remote=GROUP_JID, participant=f"{BOB}:5@s.whatsapp.net", pushName="Bobby"),
        web_message("G2", Message(conversation="participant on info"), remote=GROUP_JID, participant=""),
        web_message("G3", Message(conversation="mine"), remote=GROUP_JID, from_me=True, status=WebMessageInfo.READ),
        web_message("G4", Message(conversation="mine too"), remote=GROUP_JID, from_me=True),
    ]
    messages[1].message.participant = ALICE_JID  # key.participant empty: WebMessageInfo.participant
    data = HistorySync(
        syncType=HistorySync.FULL,
        progress=42,
        chunkOrder=3,
        pushnames=[Pushname(ID=ALICE_JID, pushname="Alice A."), Pushname(ID=BOB_JID, pushname="Bob B.")],
        conversations=[Conversation(ID=GROUP_JID, name="Climbing crew", messages=messages)],
    )
    batch = map_history_sync(HistorySyncEv(Data=data), own_jid=f"{ME}:12@s.whatsapp.net")
    by_id = {m.id: m for m in batch.messages}
    assert by_id["G1"].sender == BOB_JID
    assert by_id["G2"].sender == ALICE_JID
    assert (by_id["G3"].sender, by_id["G3"].is_from_me, by_id["G3"].status) == (ME_JID, True, MessageStatus.READ)
    assert by_id["G4"].status == MessageStatus.SENT
    assert by_id["G1"].status == MessageStatus.RECEIVED
    assert batch.chats[0].is_group is True
    assert batch.chats[0].name == "Climbing crew"
    names = dict(batch.push_names)
    assert names == {ALICE_JID: "Alice A.", BOB_JID: "Bob B."}  # the pushnames list wins over pushName
    assert (batch.sync_type, batch.progress, batch.chunk_order, batch.done) == ("full", 42.0, 3, False)
    assert map_history_sync(HistorySyncEv(Data=data), chunk_order=9).chunk_order == 9
    done = map_history_sync(HistorySyncEv(Data=HistorySync(syncType=HistorySync.FULL, progress=100)))
    assert done.done is True


def test_history_chat_fields():
    newest_message_ts = T_SECONDS + 100
    conversation = Conversation(
        ID=ALICE_JID,
        displayName="Alice (display)",
        unreadCount=4,
        archived=True,
        pinned=1732400000,
        muteEndTime=T_SECONDS + 3600,
        conversationTimestamp=T_SECONDS,
        ephemeralExpiration=604800,
        messages=[web_message("N1", Message(conversation="newest"), ts=newest_message_ts),
                  web_message("N0", Message(conversation="older"), ts=T_SECONDS - 100)],
    )
    chat = map_history_sync(HistorySyncEv(Data=HistorySync(conversations=[conversation]))).chats[0]
    assert chat.name == "Alice (display)"
    assert (chat.unread_count, chat.archived, chat.pinned) == (4, True, True)
    assert chat.muted_until == datetime.fromtimestamp(T_SECONDS + 3600, UTC)
    assert chat.ephemeral_expiration == 604800
    assert chat.last_message_time == datetime.fromtimestamp(newest_message_ts, UTC)  # newest message wins
    assert (chat.last_message_id, chat.last_message_preview) == ("N1", "newest")

    later = Conversation(ID=BOB_JID, name="Bob", conversationTimestamp=T_SECONDS + 999,
                         messages=[web_message("B1", Message(conversation="x"), remote=BOB_JID)])
    bob = map_history_sync(HistorySyncEv(Data=HistorySync(conversations=[later]))).chats[0]
    assert bob.last_message_time == datetime.fromtimestamp(T_SECONDS + 999, UTC)  # conversation ts wins
    assert (bob.pinned, bob.archived, bob.muted_until, bob.unread_count) == (False, False, None, 0)


def test_muted_until_units():
    assert muted_until(0) is None
    assert muted_until(T_SECONDS) == T
    assert muted_until(T_MS) == T
    assert muted_until(2**64 - 1) == MUTED_FOREVER  # -1 as uint64


def test_history_lid_conversation_and_participants():
    lid_chat = Conversation(
        ID=ALICE_LID, pnJID=ALICE_JID, name="Alice",
        messages=[web_message("L1", Message(conversation="lid dm"), remote=ALICE_LID)],
    )
    group = Conversation(
        ID=GROUP_JID,
        messages=[
            web_message("L2", Message(conversation="mapped"), remote=GROUP_JID, participant="111111111111111@lid"),
            web_message("L3", Message(conversation="resolved"), remote=GROUP_JID, participant="222222222222222@lid"),
            web_message("L4", Message(conversation="unknown"), remote=GROUP_JID, participant="333333333333333@lid"),
        ],
    )
    data = HistorySync(
        conversations=[lid_chat, group],
        phoneNumberToLidMappings=[PhoneNumberToLIDMapping(pnJID=BOB_JID, lidJID="111111111111111@lid")],
        pushnames=[Pushname(ID=ALICE_LID, pushname="Alice")],
    )
    resolved = {"222222222222222@lid": "15550004444@s.whatsapp.net"}
    batch = map_history_sync(HistorySyncEv(Data=data), resolve_lid=resolved.get)
    by_id = {m.id: m for m in batch.messages}
    assert batch.chats[0].jid == ALICE_JID
    assert (by_id["L1"].chat_jid, by_id["L1"].sender) == (ALICE_JID, ALICE_JID)
    assert by_id["L2"].sender == BOB_JID
    assert by_id["L3"].sender == "15550004444@s.whatsapp.net"
    assert by_id["L4"].sender == "333333333333333@lid"
    assert dict(batch.push_names)[ALICE_JID] == "Alice"


def test_history_push_names_only():
    data = HistorySync(syncType=HistorySync.PUSH_NAME, pushnames=[Pushname(ID=ALICE_JID, pushname="Alice")])
    (batch,) = map_event(HistorySyncEv(Data=data))
    assert isinstance(batch, ev.HistorySyncBatch)
    assert (batch.chats, batch.messages, batch.push_names) == ((), (), ((ALICE_JID, "Alice"),))
    assert (batch.sync_type, batch.progress, batch.done) == ("push_name", None, True)


# --- connection, pairing, presence ----------------------------------------------------------


@pytest.mark.parametrize(
    ("proto", "expected"),
    [
        (ConnectedEv(status=True), ev.Connected()),
        (DisconnectedEv(status=True), ev.Disconnected(reason="disconnected")),
        (
            LoggedOutEv(OnConnect=True, Reason=ConnectFailureReason.MAIN_DEVICE_GONE),
            ev.LoggedOut(reason="main device gone", on_connect=True),
        ),
        (LoggedOutEv(OnConnect=False), ev.LoggedOut(reason="unknown", on_connect=False)),
        (StreamReplacedEv(), ev.StreamReplaced()),
        (
            TemporaryBanEv(Code=TemporaryBanEv.BLOCKED_BY_USERS, Expire=3600),
            ev.TemporaryBan(code=102, expires_in=3600.0),
        ),
        (TemporaryBanEv(Expire=60), ev.TemporaryBan(code=0, expires_in=60.0)),
        (ClientOutdatedEv(), ev.ClientOutdated()),
        (
            ConnectFailureEv(Reason=ConnectFailureReason.SERVICE_UNAVAILABLE, Message="try later"),
            ev.ConnectFailure(reason="service unavailable: try later", code=503),
        ),
        (ConnectFailureEv(Message="odd"), ev.ConnectFailure(reason="unknown: odd", code=0)),
        (
            PairStatusEv(ID=jid(ME, device=23), Platform="android", Status=PairStatusEv.SUCCESS),
            ev.PairSuccess(jid=f"{ME}:23@s.whatsapp.net", push_name="", platform="android"),
        ),
        (
            PairStatusEv(ID=jid(ME, device=23), BusinessName="Shop", Platform="smbi", Status=PairStatusEv.SUCCESS),
            ev.PairSuccess(jid=f"{ME}:23@s.whatsapp.net", push_name="Shop", platform="smbi"),
        ),
        (
            PairStatusEv(Status=PairStatusEv.ERROR, Error="failed to verify device identity"),
            ev.PairFailure(reason="failed to verify device identity"),
        ),
        (PairStatusEv(Status=PairStatusEv.ERROR), ev.PairFailure(reason="pairing failed")),
    ],
    ids=[
        "connected", "disconnected", "logged-out", "logged-out-no-reason", "stream-replaced",
        "temp-ban", "temp-ban-no-code", "client-outdated", "connect-failure", "connect-failure-no-reason",
        "pair-success", "pair-success-business", "pair-failure", "pair-failure-no-text",
    ],
)
def test_connection_events(proto, expected):
    assert map_connection(proto) == expected
    assert map_event(proto) == [expected]


def test_unmapped_events_give_nothing():
    assert map_connection(QREv(Codes=["a,b,c,d"])) is None
    assert map_event(QREv(Codes=["a,b,c,d"])) == []
    assert map_event(PairStatusEv()) == []


def test_presence_events():
    assert map_event(PresenceEv(From=build_jid(ALICE), Unavailable=True, LastSeen=T_SECONDS)) == [
        ev.Presence(ALICE_JID, available=False, last_seen=T)
    ]
    # whatsmeow's zero time arrives as a negative number of seconds: no last seen
    assert map_event(PresenceEv(From=build_jid(ALICE), Unavailable=False, LastSeen=-62135596800)) == [
        ev.Presence(ALICE_JID, available=True, last_seen=None)
    ]
    typing = ChatPresenceEv(
        MessageSource=MessageSource(Chat=build_jid(ALICE), Sender=build_jid(ALICE)),
        State=ChatPresenceEv.COMPOSING,
        Media=ChatPresenceEv.AUDIO,
    )
    assert map_event(typing) == [ev.ChatPresence(ALICE_JID, ALICE_JID, composing=True, media="audio")]


# --- the real neonize dispatch path ---------------------------------------------------------


async def test_real_dispatch_path_delivers_a_mappable_message(tmp_path, monkeypatch):
    """Bytes in, handler called on the loop thread, map_event gives the MessageReceived.
    No connect(): no Go code runs (the client's Go-side finalizer is detached too)."""
    import neonize.aioze.events as neonize_events
    from neonize.aioze.client import NewAClient

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(neonize_events, "event_global_loop", loop)
    client = NewAClient(str(tmp_path / "wa-acct1.db"), uuid="acct1")
    finalizer = getattr(client, "_stop_finalizer", None)
    if finalizer is not None:
        finalizer.detach()  # would call Go Stop() at garbage collection
    received: asyncio.Queue = asyncio.Queue()

    async def on_message(who, message):
        received.put_nowait((who, message, threading.current_thread()))

    client.event(MessageEv)(on_message)
    event = message_ev(Message(conversation="through ctypes"), id="3EB0CTYPES")
    data = event.SerializePartialToString()
    buffer = ctypes.create_string_buffer(data, len(data))
    await loop.run_in_executor(
        None, client.event.execute, 0, ctypes.addressof(buffer), len(data), 17
    )
    who, message, thread = await asyncio.wait_for(received.get(), timeout=5)
    assert who is client and client.uuid == b"acct1"
    assert thread is threading.main_thread()
    assert isinstance(message, MessageEv) and message == event
    (mapped,) = map_event(message)
    assert isinstance(mapped, ev.MessageReceived)
    assert (mapped.message.id, mapped.message.content, mapped.message.timestamp) == ("3EB0CTYPES", "through ctypes", T)
    assert not (tmp_path / "wa-acct1.db").exists()  # nothing touched the Go store


def test_importing_the_mapping_prints_nothing():
    code = (
        "import logging, watui.engine.neonize.mapping\n"
        "logging.getLogger('neonize').warning('x')\n"
        "logging.getLogger('whatsmeow.Client').error('x')\n"
        "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout == b""
    assert result.stderr == b""
