"""`watui pair SESSION [--phone NUMBER]` in a plain terminal, and the demo's simulated phone.

The QR is drawn with Unicode half blocks, black on white whatever the terminal's colours
(ANSI SGR), redrawn in place as it rotates; about 57 columns by 30 lines, so it fits an
80-column terminal over SSH. With --phone the 8-character pairing code is printed instead.
Either way the command waits for the phone: exit 0 when paired, 3 when the pairing window
closed (or --timeout passed) first, 1 on an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from typing import Any

from watui.cli.output import print_json, say
from watui.control.client import Subscription, open_standalone, require_daemon
from watui.domain.errors import WatuiError
from watui.domain.jid import normalize_phone
from watui.domain.session_id import validate_session_id
from watui.domain.text import printable
from watui.qr import render_qr
from watui.runtime import Environment

EXIT_PAIRED = 0
EXIT_WINDOW_CLOSED = 3

QR_COLOURS = "\x1b[30;47m"  # black on white: the dark modules must be dark on a light ground
RESET = "\x1b[0m"
CLEAR_LINE = "\x1b[K"


def register(commands: argparse._SubParsersAction) -> None:
    pair = commands.add_parser("pair", help="pair a session in this terminal: QR code or phone-number code")
    pair.add_argument("session_id")
    pair.add_argument("--phone", metavar="NUMBER", help="pair by phone number: print the 8-character code "
                      "to type on the phone instead of a QR")
    pair.add_argument("--timeout", type=float, metavar="SECONDS", help="give up after this long (exit 3)")
    pair.add_argument("--new", action="store_true", help="start a fresh pairing window")
    pair.add_argument("--json", action="store_true", help="JSON lines: qr, code, paired or closed")
    pair.set_defaults(run=pair_session)

    demo = commands.add_parser("demo", help="the demo's simulated phone (sim backend, running daemon)")
    sub = demo.add_subparsers(title="actions", metavar="ACTION", required=True)
    scan = sub.add_parser("scan", help="the phone scans the session's QR code")
    scan.add_argument("session_id")
    scan.add_argument("--phone", metavar="NUMBER", help="which simulated phone (default: the session's demo phone)")
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(run=demo_scan)
    code = sub.add_parser("enter-code", help="the phone's user types the session's pairing code")
    code.add_argument("session_id")
    code.add_argument("--json", action="store_true")
    code.set_defaults(run=demo_enter_code)


async def pair_session(args: argparse.Namespace, environment: Environment) -> int:
    session = validate_session_id(args.session_id)
    phone = normalize_phone(args.phone) if args.phone is not None else None  # refused before anything starts
    client = await open_standalone(environment, session)
    try:
        subscription = await client.stream("pair.qr", {"session": session, "restart": args.new})
        if phone is not None:
            reply = await client.call("pair.phone", {"session": session, "phone": phone})
            _show_code(args, reply.results)
        try:
            async with asyncio.timeout(args.timeout):
                return await _follow(args, subscription, code_mode=phone is not None)
        except TimeoutError:
            _closed(args, f"no phone paired within {args.timeout:g} s")
            return EXIT_WINDOW_CLOSED
    finally:
        await client.close()


async def _follow(args: argparse.Namespace, subscription: Subscription, *, code_mode: bool) -> int:
    drawn = 0  # lines of the QR drawing on screen, redrawn in place
    async for event, data in subscription:
        if args.json:
            if not (code_mode and event == "qr"):
                _json_line(event, data)
        elif event == "qr" and not code_mode:
            drawn = _draw_qr(data, drawn)
        elif event == "code" and not code_mode:
            _show_code(args, data)
        if event == "paired":
            if not args.json:
                who = " ".join(x for x in (data.get("push_name"), data.get("jid")) if x)
                say(f"session {args.session_id} paired: {who}")
            return EXIT_PAIRED
        if event == "closed":
            _closed(args, data.get("reason", "the pairing window closed"))
            return EXIT_WINDOW_CLOSED
    raise WatuiError(f"pairing stopped: {subscription.end_reason}")


def _json_line(event: str, data: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, "data": data}, ensure_ascii=True) + "\n")
    sys.stdout.flush()


def _show_code(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if args.json:
        _json_line("code", {"code": results["code"], "phone": results["phone"]})
        return
    say(f"pairing code for +{results['phone']}:  {printable(results['code'])}")
    say("On the phone: WhatsApp > Linked devices > Link a device > Link with phone number instead,")
    say("then type the code. Waiting (ctrl-c to stop) ...")


def _closed(args: argparse.Namespace, reason: str) -> None:
    print(f"watui: not paired: {printable(reason, single_line=True)}; "
          f"run `watui pair {args.session_id}` again", file=sys.stderr)


def _draw_qr(data: dict[str, Any], drawn: int) -> int:
    lines = render_qr(str(data["code"]))
    tty = sys.stdout.isatty()
    out: list[str] = []
    if drawn and tty:
        out.append(f"\x1b[{drawn}A\r\x1b[J")  # back to the top of the last drawing
    columns = shutil.get_terminal_size((80, 24)).columns
    width = len(lines[0])
    out += [f"{QR_COLOURS}{line}{RESET}{CLEAR_LINE}" for line in lines]
    index, total = int(data.get("index", 0)) + 1, int(data.get("total", 0))
    expires = float(data.get("expires_in", 0))
    caption = [
        "Scan with WhatsApp: Settings > Linked devices > Link a device.",
        f"Code {index} of {total}, next in {expires:.0f} s. Waiting (ctrl-c to stop) ...",
    ]
    if width > columns:
        caption.insert(0, f"The terminal is {columns} columns wide; the code needs {width}: "
                          "widen it or use --phone.")
    out += [line + CLEAR_LINE for line in caption]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    return len(lines) + len(caption)


# --- the demo's phone --------------------------------------------------------------------------
async def demo_scan(args: argparse.Namespace, environment: Environment) -> int:
    params = {"session": validate_session_id(args.session_id)}
    if args.phone is not None:
        params["phone"] = normalize_phone(args.phone)
    return await _demo_call(args, environment, "demo.scan", params)


async def demo_enter_code(args: argparse.Namespace, environment: Environment) -> int:
    return await _demo_call(args, environment, "demo.enter_code",
                            {"session": validate_session_id(args.session_id)})


async def _demo_call(args: argparse.Namespace, environment: Environment, method: str, params: dict) -> int:
    client = await require_daemon(environment)
    async with client:
        reply = await client.call(method, params)
    if args.json:
        print_json(reply.envelope())
    else:
        say(reply.message)
    return 0


__all__ = ["EXIT_PAIRED", "EXIT_WINDOW_CLOSED", "register"]
