"""The logs hold no message contents and no key material by default: a demo run of the real
app sends and receives messages carrying a unique marker (typed, received 1:1 and in a
group, as a push name, in an event the store refuses), shows a pairing QR code, and quits;
then neither the marker nor the QR payload is in any file under logs/."""

from __future__ import annotations

import uuid
from datetime import datetime

from watui.domain import events as ev
from watui.domain.events import QRCode
from watui.domain.models import Message
from watui.runtime import Runtime
from watui.ui.widgets import MessagePane

from tests.test_ui_app import ALICE_JID, ALICE_PHONE, DEFAULT_PHONE, chat_list, main_screen, running, runtime, wait_for  # noqa: F401


async def test_no_message_text_or_keys_in_the_logs(runtime: Runtime) -> None:  # noqa: F811
    marker = f"MARK{uuid.uuid4().hex}"
    logs = runtime.environment.paths.logs_dir
    async with running(runtime) as (app, pilot):
        network = runtime.network
        me = f"{DEFAULT_PHONE}@s.whatsapp.net"
        # received: a 1:1 message, a group message, a push name
        network.send_from(ALICE_PHONE, me, f"incoming {marker}")
        group = next(jid for jid, g in network.groups.items() if DEFAULT_PHONE in g.members)
        network.send_from(ALICE_PHONE, group, f"group {marker}")
        session = runtime.manager.get_session("default")
        session.queue.put_nowait(ev.PushName(ALICE_JID, f"name {marker}"))
        # an event the store refuses: its error is logged, its text must not be
        bad = Message(id="BAD1", chat_jid=ALICE_JID, sender=ALICE_JID, timestamp=datetime(2025, 1, 1),
                      content=f"refused {marker}")
        session.queue.put_nowait(ev.MessageReceived(bad, chat_name=f"chat {marker}"))
        await wait_for(pilot, lambda: session.handler_errors >= 1, tries=300)

        # sent: typed in the composer of Alice's chat
        chats = chat_list(app)
        await wait_for(pilot, lambda: chats.select_jid(ALICE_JID))
        chats.focus()
        await pilot.press("enter")
        pane = main_screen(app).query_one(MessagePane)
        await wait_for(pilot, lambda: any(marker in m.content for m in pane.messages), tries=300)
        await pilot.press(*f"outgoing {marker}", "enter")
        await wait_for(pilot, lambda: any(m.content == f"outgoing {marker}" and m.is_from_me for m in pane.messages), tries=300)

        # a pairing QR code (its payload holds the device's public keys)
        await pilot.press("alt+3")
        await wait_for(pilot, lambda: isinstance(main_screen(app).pairing_shown("personal"), QRCode), tries=300)
        qr = main_screen(app).pairing_shown("personal").code
        await pilot.press("ctrl+q")

    files = [p for p in logs.rglob("*") if p.is_file()]
    assert any(p.name == "watui.log" and p.stat().st_size > 0 for p in files), files
    text = "\n".join(p.read_text(errors="replace") for p in files)
    assert "handler failed for MessageReceived" in text  # the refused event was logged ...
    assert marker not in text  # ... without its text, and nothing else carried it either
    for secret in qr.split(","):
        assert secret not in text
