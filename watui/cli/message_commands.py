"""`watui send | chats | messages | search | export | tail`.

Each asks the watui that owns the data dir when one runs (the daemon or the app); otherwise
the read-only ones read the store directly and `send` starts the one session it needs, sends,
waits for the server's ack and stops. Text written by other people is printed as text:
printable() for people, JSON with ensure_ascii for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from watui.cli.output import print_json, print_table, say
from watui.control.client import Client, open_reader, open_standalone, require_daemon
from watui.domain.errors import WatuiError
from watui.domain.jid import to_chat_jid
from watui.domain.models import utc_now
from watui.domain.session_id import validate_session_id
from watui.domain.text import printable
from watui.runtime import Environment

PAGE = 1000  # rows per request when exporting
BOLD, UNBOLD = "\x1b[1m", "\x1b[22m"


def register(commands: argparse._SubParsersAction) -> None:
    send = commands.add_parser("send", help="send a text message (text from stdin when omitted)")
    send.add_argument("--session", help="the session to send from (default: the default session)")
    send.add_argument("--to", required=True, metavar="PHONE|JID", help="a phone number with country code, or a JID")
    send.add_argument("--reply-to", metavar="ID", help="quote this message (an id from `watui messages`)")
    send.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                      help="how long to wait for the server's ack (default 30)")
    send.add_argument("--json", action="store_true")
    send.add_argument("text", nargs="?", help="the message; read from stdin when omitted")
    send.set_defaults(run=send_message)

    chats = commands.add_parser("chats", help="a session's chats, most recent first")
    chats.add_argument("--session")
    chats.add_argument("--limit", type=_limit, default=50)
    chats.add_argument("--unread", action="store_true", help="only chats with unread messages")
    chats.add_argument("--json", action="store_true")
    chats.set_defaults(run=list_chats)

    messages = commands.add_parser("messages", help="one chat's messages (the newest page)")
    messages.add_argument("--session")
    messages.add_argument("--chat", required=True, metavar="JID|PHONE")
    messages.add_argument("--limit", type=_limit, default=50)
    messages.add_argument("--before", metavar="ID", help="the page older than this message")
    messages.add_argument("--json", action="store_true")
    messages.set_defaults(run=list_messages)

    search = commands.add_parser("search", help="full-text search, newest first")
    search.add_argument("query", nargs="+")
    search.add_argument("--session", help="only this session (default: all sessions)")
    search.add_argument("--limit", type=_limit, default=20)
    search.add_argument("--rank", action="store_true", help="best match first instead of newest first")
    search.add_argument("--json", action="store_true")
    search.set_defaults(run=search_messages)

    export = commands.add_parser("export", help="a session's chats (or one chat) as md, json or txt")
    export.add_argument("--session")
    export.add_argument("--chat", metavar="JID|PHONE", help="only this chat")
    export.add_argument("--format", choices=["md", "json", "txt"], default="md")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (0600) instead of stdout")
    export.set_defaults(run=export_chats)

    tail = commands.add_parser("tail", help="follow events (new messages, receipts, status) as JSON lines")
    tail.add_argument("--session", help="only this session (default: all sessions)")
    tail.add_argument("--events", metavar="TYPES",
                      help="comma-separated: message,receipt,update,status,sessions,pairing (default: all)")
    tail.set_defaults(run=tail_events)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected 1 to 1000, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"expected more than 0 and at most 600 seconds, got {text}")
    return value


def _chat_arg(value: str) -> str:
    """A JID or phone number, checked before anything is opened."""
    return str(to_chat_jid(value.strip()).to_non_ad())


def _session_arg(value: str | None) -> str | None:
    return validate_session_id(value) if value is not None else None


def local_time(iso: str | None) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


def _line(text: str, width: int | None = None) -> str:
    text = printable(text, single_line=True)
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def _indented(text: str, indent: str) -> str:
    return printable(text).replace("\n", "\n" + indent)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


# --- send ----------------------------------------------------------------------------------
async def send_message(args: argparse.Namespace, environment: Environment) -> int:
    session = _session_arg(args.session)
    to = _chat_arg(args.to)  # refused here, before anything starts
    text = args.text
    if text is None:
        if sys.stdin.isatty():
            print("watui: type the message, then ctrl-d", file=sys.stderr)
        text = sys.stdin.read()
        text = text[:-1] if text.endswith("\n") else text
    if not text.strip():
        raise WatuiError("nothing to send: the message is empty")
    params: dict[str, Any] = {"to": to, "text": text, "wait": args.timeout}
    if session is not None:
        params["session"] = session
    if args.reply_to:
        params["reply_to"] = args.reply_to
    client = await open_standalone(environment, session)
    try:
        reply = await client.call("send.message", params)
    finally:
        await client.close()
    results = reply.results
    if args.json:
        print_json(reply.envelope())
    else:
        say(results["message_id"])
    if not results["acknowledged"]:
        print(f"watui: {printable(reply.message, single_line=True)}", file=sys.stderr)
        return 1
    return 0


# --- reading ---------------------------------------------------------------------------------
async def _read(args: argparse.Namespace, environment: Environment, method: str, params: dict[str, Any]) -> Any | None:
    """Call a read method for ``args.session`` (when given); with --json print the envelope
    and return None, else return the results to render."""
    if args.session is not None:
        params["session"] = _session_arg(args.session)
    async with await open_reader(environment) as client:
        reply = await client.call(method, params)
    if args.json:
        print_json(reply.envelope())
        return None
    return reply.results


async def list_chats(args: argparse.Namespace, environment: Environment) -> int:
    results = await _read(args, environment, "chats.list", {"limit": args.limit, "unread_only": args.unread})
    if results is None:
        return 0
    chats = results["chats"]
    print_table(
        ["CHAT", "JID", "UNREAD", "LAST", "PREVIEW"],
        [
            [_line(c["name"] or c["jid"], 32), c["jid"], c["unread_count"] or "",
             local_time(c["last_message_time"]), _line(c["last_message_preview"], 40)]
            for c in chats
        ],
    )
    return 0


async def list_messages(args: argparse.Namespace, environment: Environment) -> int:
    params: dict[str, Any] = {"chat": _chat_arg(args.chat), "limit": args.limit}
    if args.before:
        params["before"] = args.before
    results = await _read(args, environment, "chat.messages", params)
    if results is None:
        return 0
    for message in reversed(results["messages"]):  # oldest first, as a chat reads
        _write(_message_line(message) + "\n")
    if results["next_before"]:
        print(f"watui: older messages: --before {_line(results['next_before'])}", file=sys.stderr)
    return 0


def _message_line(message: dict[str, Any]) -> str:
    head = f"{local_time(message['timestamp'])}  {_line(message['id'])}  {_line(message['sender_name'])}: "
    if message["deleted"]:
        body = "(deleted)"
    else:
        body = message["content"]
        if message["media_type"]:
            body = f"[{message['media_type']}] {body}".rstrip()
    tail = ""
    if message["is_from_me"]:
        tail = f"  ({message['status']})"
    if message["edited"]:
        tail += "  (edited)"
    return head + _indented(body, " " * 4) + tail


async def search_messages(args: argparse.Namespace, environment: Environment) -> int:
    params: dict[str, Any] = {"query": " ".join(args.query), "limit": args.limit}
    if args.rank:
        params["order"] = "relevance"
    results = await _read(args, environment, "search", params)
    if results is None:
        return 0
    hits = results["hits"]
    if not hits:
        print("watui: no matches", file=sys.stderr)
        return 0
    tty = sys.stdout.isatty()
    for hit in hits:
        snippet = _line(hit["snippet"])
        if tty:
            snippet = snippet.replace("«", BOLD).replace("»", UNBOLD)
        chat = _line(hit["chat_name"] or hit["chat_jid"], 32)
        _write(f"{hit['session_id']}  {chat}  {local_time(hit['timestamp'])}  "
               f"{_line(hit['sender_name'])}: {snippet}  [{_line(hit['message_id'])}]\n")
    return 0


# --- export --------------------------------------------------------------------------------------
async def export_chats(args: argparse.Namespace, environment: Environment) -> int:
    session = _session_arg(args.session)
    chat = _chat_arg(args.chat) if args.chat is not None else None
    async with await open_reader(environment) as client:
        chats = await _export_chats(client, session, chat)
        with _output(args.output) as out:
            count = await _export(client, out, args.format, chats)
    if args.output:
        say(f"exported {count} messages in {len(chats)} chats to {args.output}")
    return 0


async def _export_chats(client: Client, session: str | None, chat: str | None) -> list[dict[str, Any]]:
    base = {"session": session} if session is not None else {}
    if chat is not None:
        reply = await client.call("chat.messages", {**base, "chat": chat, "limit": 1})
        results = reply.results
        if not results["messages"] and not results["chat_name"]:
            raise WatuiError(f"no chat {results['chat_jid']} in session {results['session_id']}")
        return [{"jid": results["chat_jid"], "session_id": results["session_id"], "name": results["chat_name"]}]
    chats: list[dict[str, Any]] = []
    before = None
    while True:
        params = {**base, "limit": PAGE, **({"before": before} if before else {})}
        reply = await client.call("chats.list", params)
        chats += reply.results["chats"]
        before = reply.results["next_before"]
        if not before:
            return chats


async def _chat_messages(client: Client, chat: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    before = None
    while True:
        params = {"session": chat["session_id"], "chat": chat["jid"], "limit": PAGE}
        if before:
            params["before"] = before
        reply = await client.call("chat.messages", params)
        messages += reply.results["messages"]
        before = reply.results["next_before"]
        if not before:
            messages.reverse()  # oldest first
            return messages


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    """stdout, or FILE written privately (0600) and atomically (a temp file renamed)."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path).expanduser()
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


async def _export(client: Client, out: IO[str], fmt: str, chats: list[dict[str, Any]]) -> int:
    count = 0
    session = chats[0]["session_id"] if chats else ""
    now = utc_now().isoformat()
    if fmt == "json":
        out.write('{"session_id": ' + json.dumps(session) + ', "exported_at": ' + json.dumps(now) + ', "chats": [')
    elif fmt == "md":
        out.write(f"# watui export: session {printable(session)}\n\n_exported {local_time(now)}_\n")
    for index, chat in enumerate(chats):
        messages = await _chat_messages(client, chat)
        count += len(messages)
        name = chat.get("name") or chat["jid"]
        if fmt == "json":
            entry = {**chat, "messages": messages}
            out.write(("," if index else "") + "\n" + json.dumps(entry, ensure_ascii=True, indent=2))
        elif fmt == "md":
            out.write(f"\n## {_line(name)} ({_line(chat['jid'])})\n\n")
            for message in messages:
                out.write(f"- **{local_time(message['timestamp'])} {_line(message['sender_name'])}:** "
                          f"{_indented(_body(message), '  ')}\n")
        else:
            out.write(f"{'' if index == 0 else chr(10)}== {_line(name)} ({_line(chat['jid'])}) ==\n")
            for message in messages:
                out.write(f"[{local_time(message['timestamp'])}] {_line(message['sender_name'])}: "
                          f"{_indented(_body(message), '    ')}\n")
    if fmt == "json":
        out.write("\n]}\n")
    return count


def _body(message: dict[str, Any]) -> str:
    if message["deleted"]:
        return "(deleted)"
    body = message["content"]
    if message["media_type"]:
        name = f" {message['filename']}" if message["filename"] else ""
        body = f"[{message['media_type']}{name}] {body}".rstrip()
    return body


# --- tail ------------------------------------------------------------------------------------------
async def tail_events(args: argparse.Namespace, environment: Environment) -> int:
    params: dict[str, Any] = {}
    if args.session is not None:
        params["session"] = _session_arg(args.session)
    if args.events:
        params["events"] = [e.strip() for e in args.events.split(",") if e.strip()]
    client = await require_daemon(environment)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        if task is not None:
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupt)
    try:
        subscription = await client.stream("events.subscribe", params)
        which = f"session {params['session']}" if "session" in params else "all sessions"
        print(f"watui: following events of {which} (ctrl-c to stop)", file=sys.stderr, flush=True)
        async for event, data in subscription:
            _write(json.dumps({"event": event, "data": data}, ensure_ascii=True, separators=(",", ":")) + "\n")
        raise WatuiError(f"the event stream ended: {subscription.end_reason}")
    except asyncio.CancelledError:
        if not interrupted:
            raise
        return 0
    except BrokenPipeError:  # `watui tail | head`: the reader has gone
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await client.close()
