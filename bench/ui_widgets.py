"""Widget costs: CPU time of the chat list and the message pane on their own (Textual
headless, no store), in the units of docs textual-notes §3. Context figures, no targets.

    .venv/bin/python bench/ui_widgets.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult

from bench.common import Row, common_args, print_table, save
from watui.domain.models import Chat, Message
from watui.ui.widgets import MessagePane, VirtualChatList

ROWS: list[Row] = []

NOW = datetime.now(UTC)


def chats(n: int) -> list[Chat]:
    return [
        Chat(f"{15550000000 + i}@s.whatsapp.net", f"Chat {i}", NOW - timedelta(minutes=i),
             unread_count=i % 4, last_message_preview=f"preview {i}")
        for i in range(n)
    ]


def messages(start: int, n: int) -> list[Message]:
    return [
        Message(f"m{i:06d}", "1@s.whatsapp.net", "1@s.whatsapp.net", NOW - timedelta(minutes=10_000 - i), f"message {i} " * 5)
        for i in range(start, start + n)
    ]


class Host(App[None]):
    def __init__(self, widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


def report(label: str, seconds: float) -> None:
    print(f"{label:<48} {seconds * 1000:8.1f} ms CPU")
    ROWS.append(Row("widgets", f"{label} (CPU)", seconds * 1000, "ms"))


async def bench_chat_list(n: int) -> None:
    data = chats(n)
    started = time.process_time()
    widget = VirtualChatList(data)
    app = Host(widget)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        report(f"chat list: mount + first paint, {n:,} chats", time.process_time() - started)
        baseline = time.process_time()
        await pilot.pause()
        idle = time.process_time() - baseline
        changed = data[5]
        started = time.process_time()
        widget.update_chats([Chat(changed.jid, changed.name, changed.last_message_time, unread_count=7, last_message_preview="updated")])
        await pilot.pause()
        report("chat list: update one row + repaint (- idle)", time.process_time() - started - idle)
        moved = data[n // 2]
        started = time.process_time()
        widget.update_chats([Chat(moved.jid, moved.name, NOW + timedelta(seconds=1), last_message_preview="to the top")])
        await pilot.pause()
        report("chat list: move one chat to the top (- idle)", time.process_time() - started - idle)
        started = time.process_time()
        for i in range(50):
            c = data[i * 3]
            widget.update_chats([Chat(c.jid, c.name, c.last_message_time, unread_count=i, last_message_preview=f"u{i}")])
            await pilot.pause()
        report("chat list: 50 updates, each repainted (- idle)", time.process_time() - started - 50 * idle)
        started = time.process_time()
        widget.set_filter("chat 12")
        await pilot.pause()
        report("chat list: filter", time.process_time() - started - idle)
        started = time.process_time()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        report("chat list: resize", time.process_time() - started - idle)


async def bench_pane() -> None:
    pane = MessagePane()
    app = Host(pane)
    async with app.run_test(size=(100, 40)) as pilot:
        started = time.process_time()
        pane.set_messages(messages(5000, 200), {}, is_group=False)
        await pilot.pause()
        report("pane: set_messages 200", time.process_time() - started)
        started = time.process_time()
        pane.upsert_messages(messages(5200, 1))
        await pilot.pause()
        report("pane: append one + repaint", time.process_time() - started)
        started = time.process_time()
        pane.prepend_older(messages(4950, 50))
        await pilot.pause()
        report("pane: prepend 50 (+ trim 50)", time.process_time() - started)
        started = time.process_time()
        pane.set_messages(messages(0, 2) + [Message("big", "1@s.whatsapp.net", "x", NOW, "y " * 500_000)], {}, is_group=False)
        await pilot.pause()
        report("pane: set_messages with a 1 MB message", time.process_time() - started)


async def measure() -> list[Row]:
    ROWS.clear()
    await bench_chat_list(10_000)
    await bench_chat_list(100_000)
    await bench_pane()
    return list(ROWS)


def run() -> list[Row]:
    return asyncio.run(measure())


def main() -> None:
    args = common_args(__doc__.splitlines()[0]).parse_args()
    rows = run()
    print_table(rows, "widgets")
    save(rows, args.json, "widgets")


if __name__ == "__main__":
    main()
