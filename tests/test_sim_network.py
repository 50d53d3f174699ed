"""Sim network: messages between sessions, receipts, offline delivery, groups, dedup,
reactions/edits/revokes, auto-replies, and event ordering/buffering."""

from __future__ import annotations

import asyncio

import pytest

from watui.domain.errors import EngineError
from watui.domain.events import (
    ChatPresence,
    Connected,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    Reaction,
    Receipt,
    ReceiptKind,
    SendAcknowledged,
)
from watui.domain.models import MessageStatus, QuotedMessage
from watui.engine.sim import SimNetwork
from watui.engine.sim.network import AUTO_REPLIES
from watui.engine.sim.testing import EventRecorder, fast_network

ANN, BEN, CAT, BOT = "15550001", "15550002", "15550003", "15550009"
JID = {p: f"{p}@s.whatsapp.net" for p in (ANN, BEN, CAT, BOT)}


async def online(network: SimNetwork, tmp_path, session_id: str, phone: str):
    network.pre_pair(session_id, tmp_path / f"{session_id}.db", phone, history=False)
    client = network.client(session_id, tmp_path / f"{session_id}.db")
    rec = EventRecorder()
    client.set_event_sink(rec)
    await client.connect()
    await rec.next(Connected)
    return client, rec


def world(**options) -> SimNetwork:
    network = fast_network(**options)
    network.add_account(ANN, "Ann")
    network.add_account(BEN, "Ben")
    network.add_account(CAT, "Cat")
    network.add_account(BOT, "Alice Moreno", auto_reply=True)
    return network


async def test_exchange_with_ack_delivered_read(tmp_path):
    network = world()
    ann, ann_rec = await online(network, tmp_path, "a", ANN)
    ben, ben_rec = await online(network, tmp_path, "b", BEN)

    result = await ann.send_text(JID[BEN], "hi Ben", message_id="M1")
    assert result.message_id == "M1"
    ack = await ann_rec.next(SendAcknowledged)
    assert (ack.chat_jid, ack.message_id, ack.timestamp) == (JID[BEN], "M1", result.timestamp)

    got = await ben_rec.next(MessageReceived)
    message = got.message
    assert (message.id, message.chat_jid, message.sender, message.content) == ("M1", JID[ANN], JID[ANN], "hi Ben")
    assert (message.push_name, got.chat_name, message.is_from_me) == ("Ann", "Ann", False)
    assert message.status == MessageStatus.RECEIVED and message.timestamp == result.timestamp

    delivered = await ann_rec.next(Receipt)
    assert (delivered.kind, delivered.chat_jid, delivered.message_ids, delivered.sender) == (
        ReceiptKind.DELIVERED, JID[BEN], ("M1",), JID[BEN]
    )
    await ben.mark_read(JID[ANN], ["M1"], JID[ANN])
    read = await ann_rec.next(Receipt)
    assert (read.kind, read.chat_jid, read.message_ids, read.sender) == (ReceiptKind.READ, JID[BEN], ("M1",), JID[BEN])
    order = [type(e).__name__ for e in ann_rec.events if not isinstance(e, Connected)]
    assert order == ["SendAcknowledged", "Receipt", "Receipt"]

    # a reply quoting it
    await ben.send_text(JID[ANN], "hey!", message_id="M2", quoted=QuotedMessage("M1", JID[ANN], "hi Ben"))
    reply = (await ann_rec.next(MessageReceived)).message
    assert (reply.quoted_message_id, reply.quoted_sender, reply.quoted_preview) == ("M1", JID[ANN], "hi Ben")
    network.close()


async def test_offline_messages_are_delivered_on_connect(tmp_path):
    network = world()
    ann, ann_rec = await online(network, tmp_path, "a", ANN)
    ben, ben_rec = await online(network, tmp_path, "b", BEN)
    await ben.disconnect()
    ben_rec.clear()
    for n in range(3):
        await ann.send_text(JID[BEN], f"msg {n}", message_id=f"Q{n}")
    arrived = await ann_rec.settle(0.03)
    assert [type(e) for e in arrived] == [SendAcknowledged] * 3  # nobody got them yet
    assert ben_rec.events == []

    await ben.connect()
    assert isinstance(await ben_rec.next(Connected), Connected)
    texts = [(await ben_rec.next(MessageReceived)).message.content for _ in range(3)]
    assert texts == ["msg 0", "msg 1", "msg 2"]
    assert isinstance(ben_rec.events[0], Connected)  # Connected first, then the queue
    receipt = await ann_rec.next(Receipt, kind=ReceiptKind.DELIVERED)
    assert receipt.message_ids == ("Q0", "Q1", "Q2")  # one receipt for the batch
    network.close()


async def test_unpaired_account_gets_pending_messages_after_pairing(tmp_path):
    network = world()
    ann, ann_rec = await online(network, tmp_path, "a", ANN)
    await ann.send_text(JID[CAT], "welcome", message_id="W1")
    cat = network.client("c", tmp_path / "c.db")
    cat_rec = EventRecorder()
    cat.set_event_sink(cat_rec)
    await cat.connect()
    network.scan_session("c", CAT)
    got = await cat_rec.next(MessageReceived)
    assert got.message.id == "W1"
    await ann_rec.next(Receipt, kind=ReceiptKind.DELIVERED)
    network.close()


async def test_groups(tmp_path):
    network = world()
    group = network.add_group("Hikers", [ANN, BEN, "+1 555 0003"])
    assert group.startswith("1203630") or group.startswith("120363")
    assert group.endswith("@g.us")
    ann, ann_rec = await online(network, tmp_path, "a", ANN)
    ben, ben_rec = await online(network, tmp_path, "b", BEN)
    cat, cat_rec = await online(network, tmp_path, "c", CAT)

    await ann.send_text(group, "trail at 9?", message_id="G1")
    for rec in (ben_rec, cat_rec):
        got = await rec.next(MessageReceived)
        assert (got.message.chat_jid, got.message.sender, got.message.push_name, got.chat_name) == (
            group, JID[ANN], "Ann", "Hikers"
        )
    senders = {(await ann_rec.next(Receipt, kind=ReceiptKind.DELIVERED)).sender for _ in range(2)}
    assert senders == {JID[BEN], JID[CAT]}
    assert all(r.chat_jid == group for r in ann_rec.of(Receipt))
    assert not ann_rec.of(MessageReceived)  # the sender does not get its own message

    await ben.mark_read(group, ["G1"], JID[ANN])
    read = await ann_rec.next(Receipt, kind=ReceiptKind.READ)
    assert (read.chat_jid, read.sender) == (group, JID[BEN])

    with pytest.raises(EngineError, match="unknown group"):
        await ann.send_text("120363999999999999@g.us", "?", message_id="G2")
    bot = network.add_group("No Ann", [BEN, CAT])
    with pytest.raises(EngineError, match="not a member"):
        await ann.send_text(bot, "let me in", message_id="G3")
    network.close()


async def test_same_message_id_is_delivered_once(tmp_path):
    network = world()
    ann, ann_rec = await online(network, tmp_path, "a", ANN)
    ben, ben_rec = await online(network, tmp_path, "b", BEN)
    first = await ann.send_text(JID[BEN], "once", message_id="D1")
    await ben_rec.next(MessageReceived)
    second = await ann.send_text(JID[BEN], "once", message_id="D1")
    assert second.timestamp == first.timestamp
    await ben_rec.settle(0.03)
    assert len(ben_rec.of(MessageReceived)) == 1
    assert len(ann_rec.of(SendAcknowledged)) == 2  # re-acknowledged
    # another sender may use the same id
    await ben.send_text(JID[ANN], "mine", message_id="D1")
    assert (await ann_rec.next(MessageReceived)).message.content == "mine"
    network.close()


async def test_reactions_edits_revokes(tmp_path):
    network = world()
    ann, ann_rec = await online(network, tmp_path, "a", ANN)
    ben, ben_rec = await online(network, tmp_path, "b", BEN)
    await ann.send_text(JID[BEN], "typo", message_id="R1")
    await ben_rec.next(MessageReceived)

    await ben.react(JID[ANN], "R1", JID[ANN], "👍")
    reaction = await ann_rec.next(Reaction)
    assert (reaction.chat_jid, reaction.message_id, reaction.sender, reaction.emoji, reaction.is_from_me) == (
        JID[BEN], "R1", JID[BEN], "👍", False
    )
    await ben.react(JID[ANN], "R1", JID[ANN], "")
    assert (await ann_rec.next(Reaction)).emoji == ""  # removed

    await ann.edit(JID[BEN], "R1", "fixed")
    edited = await ben_rec.next(MessageEdited)
    assert (edited.chat_jid, edited.message_id, edited.content, edited.sender) == (JID[ANN], "R1", "fixed", JID[ANN])

    await ann.revoke(JID[BEN], "R1")
    revoked = await ben_rec.next(MessageRevoked)
    assert (revoked.chat_jid, revoked.message_id, revoked.sender) == (JID[ANN], "R1", JID[ANN])

    group = network.add_group("G", [ANN, BEN, CAT])
    cat, cat_rec = await online(network, tmp_path, "c", CAT)
    await ann.react(group, "X9", JID[CAT], "🎉")
    for rec in (ben_rec, cat_rec):
        got = await rec.next(Reaction)
        assert (got.chat_jid, got.sender, got.emoji) == (group, JID[ANN], "🎉")
    network.close()


async def test_other_device_of_same_account_sees_own_messages(tmp_path):
    network = world()
    phone1, rec1 = await online(network, tmp_path, "a1", ANN)
    phone2, rec2 = await online(network, tmp_path, "a2", ANN)
    assert phone1.state().device_jid != phone2.state().device_jid
    await phone1.send_text(JID[BEN], "from laptop", message_id="S1")
    copy = await rec2.next(MessageReceived)
    assert (copy.message.is_from_me, copy.message.chat_jid, copy.message.sender) == (True, JID[BEN], JID[ANN])
    await rec1.settle(0.02)
    assert not rec1.of(MessageReceived)  # no echo to the sending device
    network.close()


async def test_auto_reply_contact(tmp_path):
    async def chat_once(folder: str) -> tuple[str, list[str]]:
        network = world()
        ann, rec = await online(network, tmp_path / folder, "a", ANN)
        await ann.send_text(JID[BOT], "hello?", message_id="H1")
        kinds = [(await rec.next(Receipt)).kind for _ in range(2)]
        typing = await rec.next(ChatPresence)
        reply = await rec.next(MessageReceived)
        assert typing.composing and typing.chat_jid == JID[BOT]
        assert (reply.message.sender, reply.message.chat_jid, reply.chat_name) == (JID[BOT], JID[BOT], "Alice Moreno")
        network.close()
        return reply.message.content, [str(k) for k in kinds]

    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    text, kinds = await chat_once("x")
    assert kinds == ["delivered", "read"]
    assert text in AUTO_REPLIES
    assert (await chat_once("y"))[0] == text  # the seeded RNG chooses the same answer


async def test_sending_needs_a_connection(tmp_path):
    network = world()
    client = network.client("a", tmp_path / "a.db")
    with pytest.raises(EngineError, match="not connected"):
        await client.send_text(JID[BEN], "x", message_id="N1")
    for call in (
        client.mark_read(JID[BEN], ["N1"], JID[BEN]),
        client.react(JID[BEN], "N1", JID[BEN], "👍"),
        client.edit(JID[BEN], "N1", "y"),
        client.revoke(JID[BEN], "N1"),
    ):
        with pytest.raises(EngineError, match="not connected"):
            await call
    network.close()


async def test_events_are_buffered_until_a_sink_is_set(tmp_path):
    network = world()
    network.pre_pair("a", tmp_path / "a.db", ANN, history=False)
    client = network.client("a", tmp_path / "a.db")
    await client.connect()
    await network.client("b", tmp_path / "b.db").connect()  # unpaired, just to let the loop run
    await asyncio.sleep(0.01)
    rec = EventRecorder()
    client.set_event_sink(rec)
    assert isinstance(await rec.next(Connected), Connected)
    network.close()


async def test_a_failing_sink_does_not_stall_the_client(tmp_path):
    network = world()
    network.pre_pair("a", tmp_path / "a.db", ANN, history=False)
    client = network.client("a", tmp_path / "a.db")
    rec = EventRecorder()
    calls = []

    def sink(event):
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("boom")
        rec(event)

    client.set_event_sink(sink)
    await client.connect()
    await client.send_text(JID[BEN], "still here", message_id="F1")
    await rec.next(SendAcknowledged)
    network.close()


async def test_latency_delays_delivery(tmp_path):
    network = world(latency=0.05)
    ann, _ = await online(network, tmp_path, "a", ANN)
    ben, ben_rec = await online(network, tmp_path, "b", BEN)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await ann.send_text(JID[BEN], "slow", message_id="L1")
    await ben_rec.next(MessageReceived)
    assert loop.time() - start >= 0.045
    network.close()
