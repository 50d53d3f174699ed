"""End to end, driven only through the CLI: `python -m watui --demo --data-dir D daemon` in a
subprocess, then `watui ...` commands against it, each a subprocess of its own. The daemon is
stopped with SIGTERM at the end and must exit 0 and remove its socket."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zxingcpp

DEFAULT_PHONE = "+1 555 0100"  # the demo's sessions: default, work, personal
WORK_JID = "15550200@s.whatsapp.net"
PERSONAL_PHONE = "+1 555 0300"
ALICE_PHONE = "+1 555 0111"  # a demo contact
TOKEN = "zebracrossing"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WATUI_DATA_DIR", "SESSIONS", "DB_URI", "DB_KEYS_URI")}
    env["WATUI_CONFIG"] = "/nonexistent/never-read.toml"  # --demo keeps its config in the data dir
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def command(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "watui", "--demo", "--data-dir", str(data_dir), *args]


def cli(data_dir: Path, *args: str, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(command(data_dir, *args), capture_output=True, text=True, input=input,
                          timeout=timeout, env=_env())


def ok(data_dir: Path, *args: str, input: str | None = None) -> str:
    done = cli(data_dir, *args, input=input)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def ok_json(data_dir: Path, *args: str) -> dict:
    data = json.loads(ok(data_dir, *args, "--json"))
    assert {k: data[k] for k in ("status", "code")} == {"status": 200, "code": "SUCCESS"}
    return data["results"]


class Lines:
    """Lines from a pipe, each waited for with a timeout (select on the fd, no hidden buffer)."""

    def __init__(self, pipe) -> None:
        self.fd = pipe.fileno()
        self.buffer = b""

    def next(self, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no output in time (so far: {self.buffer[-300:]!r})"
            chunk = os.read(self.fd, 65536)
            assert chunk, f"the pipe closed (so far: {self.buffer[-300:]!r})"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode("utf-8") + "\n"

    def rest(self) -> str:
        chunks = [self.buffer]
        while chunk := os.read(self.fd, 65536):
            chunks.append(chunk)
        self.buffer = b""
        return b"".join(chunks).decode("utf-8")


class Spawned:
    def __init__(self, data_dir: Path, *args: str) -> None:
        self.process = subprocess.Popen(command(data_dir, *args), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=_env())
        self.stdout = Lines(self.process.stdout)
        self.stderr = Lines(self.process.stderr)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


def spawn(data_dir: Path, *args: str) -> Spawned:
    return Spawned(data_dir, *args)


def wait_for(predicate, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    process = subprocess.Popen(command(data_dir, "daemon"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=_env())
    sock = data_dir / "watui.sock"
    try:
        wait_for(lambda: sock.exists() or process.poll() is not None, 30, "the daemon's socket")
        assert process.poll() is None, process.communicate()

        def synced() -> bool:
            sessions = {s["session_id"]: s for s in ok_json(data_dir, "sessions", "list")["sessions"]}
            return all(sessions[s]["state"] == "connected" and sessions[s]["sync_progress"] is None
                       for s in ("default", "work")) and sessions["personal"]["state"] == "needs_pairing"

        wait_for(synced, 30, "the demo sessions to connect")
        yield data_dir, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def test_sessions_list_is_the_seed_shape(daemon):
    data_dir, _ = daemon
    done = cli(data_dir, "sessions", "list", "--json")
    data = json.loads(done.stdout)
    assert done.returncode == 0
    assert {k: data[k] for k in ("status", "code", "message")} == {
        "status": 200, "code": "SUCCESS", "message": "Sessions retrieved successfully"
    }
    sessions = data["results"]["sessions"]
    assert data["results"]["count"] == len(sessions) >= 3
    assert [s["session_id"] for s in sessions][:3] == ["default", "work", "personal"]
    for entry in sessions:
        assert {"session_id", "is_connected", "is_logged_in", "device_id", "is_default"} <= set(entry)
    default = sessions[0]
    assert default["is_default"] and default["is_connected"] and default["is_logged_in"]  # live fields
    assert default["device_id"].startswith("15550100:")
    text = ok(data_dir, "sessions", "list")
    assert "default" in text and "connected" in text


def test_send_then_read_search_export_and_tail(daemon, tmp_path):
    data_dir, _ = daemon
    tail = spawn(data_dir, "tail", "--session", "default")
    try:
        assert "following events of session default" in tail.stderr.next()
        hostile = f"hello {TOKEN} \x1b]0;pwned\x07 \x1b[2J done"
        sent = ok(data_dir, "send", "--session", "work", "--to", DEFAULT_PHONE, hostile)
        message_id = sent.strip()
        assert message_id.startswith("3EB0")
        # the default session receives it: tail shows it as a JSON line, control characters escaped
        while True:
            line = tail.stdout.next()
            assert line.isascii() and "\x1b" not in line
            event = json.loads(line)
            if event["event"] == "message" and event["data"]["id"] == message_id:
                break
        assert event["data"]["content"] == hostile and event["data"]["session_id"] == "default"
        assert event["data"]["chat_jid"] == WORK_JID and not event["data"]["is_from_me"]
    finally:
        tail.process.send_signal(signal.SIGINT)
        assert tail.wait(timeout=10) == 0
        tail.stop()
    # messages on default, from the work number
    page = ok_json(data_dir, "messages", "--session", "default", "--chat", "+1 555 0200", "--limit", "5")
    assert page["messages"][0]["id"] == message_id and page["messages"][0]["content"] == hostile
    text = ok(data_dir, "messages", "--session", "default", "--chat", WORK_JID, "--limit", "5")
    assert message_id in text and "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;pwned\\x07" in text
    # older page
    older = ok_json(data_dir, "messages", "--session", "default", "--chat", WORK_JID, "--limit", "2",
                    "--before", message_id)
    assert message_id not in [m["id"] for m in older["messages"]]
    # search: all sessions find both copies, ranked, the term highlighted
    hits = ok_json(data_dir, "search", TOKEN)["hits"]
    assert {h["session_id"] for h in hits} == {"default", "work"}
    assert all(f"«{TOKEN}»" in h["snippet"] for h in hits)
    only = ok_json(data_dir, "search", TOKEN, "--session", "default")["hits"]
    assert [h["message_id"] for h in only] == [message_id]
    assert TOKEN in ok(data_dir, "search", TOKEN)
    # export, in each format
    md = ok(data_dir, "export", "--session", "default", "--chat", WORK_JID, "--format", "md")
    assert md.startswith("# watui export") and TOKEN in md and "\x1b" not in md
    out = tmp_path / "export.json"
    ok(data_dir, "export", "--session", "default", "--chat", WORK_JID, "--format", "json", "-o", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    exported = json.loads(out.read_text())
    assert exported["session_id"] == "default"
    assert exported["chats"][0]["messages"][-1]["content"] == hostile
    txt = ok(data_dir, "export", "--session", "default", "--chat", WORK_JID, "--format", "txt")
    assert TOKEN in txt.splitlines()[-1]


def test_send_reads_stdin_and_replies(daemon):
    data_dir, _ = daemon
    first = ok(data_dir, "send", "--session", "work", "--to", DEFAULT_PHONE, input="line one\nline two\n").strip()
    result = ok_json(data_dir, "send", "--session", "work", "--to", DEFAULT_PHONE, "--reply-to", first, "a reply")
    assert result["acknowledged"] and result["chat_jid"] == "15550100@s.whatsapp.net"
    page = ok_json(data_dir, "messages", "--session", "work", "--chat", DEFAULT_PHONE, "--limit", "2")
    newest, before = page["messages"]
    assert before["content"] == "line one\nline two"
    assert newest["quoted_message_id"] == first


def test_pair_by_phone_code(daemon):
    data_dir, _ = daemon
    pairing = spawn(data_dir, "pair", "personal", "--phone", PERSONAL_PHONE, "--json")
    try:
        event = json.loads(pairing.stdout.next())
        assert event["event"] == "code" and len(event["data"]["code"]) == 9
        ok(data_dir, "demo", "enter-code", "personal")
        assert pairing.wait(timeout=15) == 0
        lines = [json.loads(line) for line in pairing.stdout.rest().splitlines()]
        assert lines[-1]["event"] == "paired" and lines[-1]["data"]["jid"].startswith("15550300:")
    finally:
        pairing.stop()
    status = ok_json(data_dir, "sessions", "status", "personal")
    assert status["device_id"].startswith("15550300:") and status["is_logged_in"]


def _decode(lines: list[str]) -> list[str]:
    """Rasterise printed half-block lines (dark on light) and read the QR code in them."""
    scale = 4
    rows: list[list[int]] = []
    for line in lines:
        top, bottom = [], []
        for char in line:
            upper, lower = {"█": (0, 0), "▀": (0, 255), "▄": (255, 0)}.get(char, (255, 255))
            top.append(upper)
            bottom.append(lower)
        rows += [top, bottom]
    width = len(rows[0]) * scale
    data = bytearray()
    for row in rows:
        data += bytes(v for v in row for _ in range(scale)) * scale
    image = memoryview(bytes(data)).cast("B", (len(rows) * scale, width))
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode, try_invert=False)]


def test_pair_by_qr_in_a_plain_terminal(daemon):
    data_dir, _ = daemon
    assert "session spare added" in ok(data_dir, "sessions", "add", "spare", "--label", "Spare")
    pairing = spawn(data_dir, "pair", "spare")
    try:
        drawing = []
        while True:
            line = pairing.stdout.next()
            if line.startswith("Code 1 of"):
                break
            drawing.append(line.rstrip("\n"))
        qr = [line for line in drawing if line.startswith("\x1b[30;47m")]  # black on white
        assert len(qr) >= 25
        bare = [line.removeprefix("\x1b[30;47m").split("\x1b[0m")[0] for line in qr]
        assert max(len(line) for line in bare) <= 80 and len(drawing) + 2 <= 40  # fits over SSH
        decoded = _decode(bare)
        assert len(decoded) == 1 and decoded[0].startswith("2@") and decoded[0].count(",") == 3
        ok(data_dir, "demo", "scan", "spare", "--phone", ALICE_PHONE)
        assert pairing.wait(timeout=15) == 0
        assert "session spare paired" in pairing.stdout.rest()
    finally:
        pairing.stop()
    sessions = {s["session_id"]: s for s in ok_json(data_dir, "sessions", "list")["sessions"]}
    assert sessions["spare"]["device_id"].startswith("15550111:")


def test_the_socket_is_private_and_refuses_malformed_requests(daemon):
    data_dir, _ = daemon
    sock_path = data_dir / "watui.sock"
    assert stat.S_IMODE(sock_path.stat().st_mode) == 0o600
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(sock_path))
        stream = sock.makefile("rwb")
        for line, code in [
            (b"{nope\n", "INVALID_REQUEST"),
            (b"42\n", "INVALID_REQUEST"),
            (b'{"id": 1, "method": "no.such"}\n', "UNKNOWN_METHOD"),
            (b'{"id": 2, "method": "chats.list", "params": {"limit": "ten"}}\n', "INVALID_PARAMS"),
            (b'{"id": 3, "method": "chats.list", "params": {"session": "ghost"}}\n', "SESSION_NOT_FOUND"),
            (b'{"id": 4, "method": "send.message", "params": {"to": "abc", "text": "x"}}\n', "INVALID_PARAMS"),
        ]:
            stream.write(line)
            stream.flush()
            answer = json.loads(stream.readline())
            assert answer["code"] == code and answer["results"] is None, answer
        stream.write(b'{"id": 5, "method": "server.info"}\n')
        stream.flush()
        info = json.loads(stream.readline())
        assert info["id"] == 5 and info["results"]["mode"] == "daemon"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("chats", "--session", "nope"), "watui: session not found: nope"),
        (("send", "--session", "nope", "--to", DEFAULT_PHONE, "hi"), "watui: session not found: nope"),
        (("send", "--to", "+1 55x", "hi"), "watui: invalid phone number '+1 55x'"),
        (("pair", "spare2", "--phone", "12"), "watui: invalid phone number '12'"),
        (("messages", "--chat", "nobody@nowhere"), "watui: invalid JID 'nobody@nowhere'"),
        (("send", "--to", DEFAULT_PHONE, "--reply-to", "NOPE", "hi"), "watui: cannot reply: no message NOPE"),
    ],
)
def test_cli_errors_are_one_line(daemon, args, message):
    data_dir, _ = daemon
    done = cli(data_dir, *args)
    assert done.returncode != 0
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr


def test_without_a_daemon(tmp_path):
    """Another data dir, nothing running: live commands say so; send starts the session itself
    and read-only commands read the store."""
    data_dir = tmp_path / "alone"
    for args in (("tail",), ("demo", "scan", "personal")):
        done = cli(data_dir, *args)
        assert done.returncode == 1
        assert done.stderr == f"watui: no watui is running on {data_dir}; start `watui daemon` (or the app) first\n"
    message_id = ok(data_dir, "send", "--session", "work", "--to", DEFAULT_PHONE, f"standalone {TOKEN}").strip()
    assert not (data_dir / "watui.sock").exists()
    page = ok_json(data_dir, "messages", "--session", "work", "--chat", DEFAULT_PHONE, "--limit", "1")
    assert page["messages"][0]["id"] == message_id and page["messages"][0]["status"] != "pending"
    assert ok_json(data_dir, "search", "standalone")["hits"][0]["message_id"] == message_id
    assert ok_json(data_dir, "chats", "--session", "work", "--limit", "3")["count"] == 3


def test_daemon_stops_cleanly_on_sigterm(daemon):  # last: the other tests use the daemon
    data_dir, process = daemon
    tail = spawn(data_dir, "tail")
    assert "following events" in tail.stderr.next()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    _, err = process.communicate()
    assert "Traceback" not in err
    assert not (data_dir / "watui.sock").exists()
    assert tail.wait(timeout=10) == 1
    assert "the event stream ended: watui is shutting down" in tail.stderr.rest()
    tail.stop()
    # and the data dir is free again: a read goes to the store
    assert ok_json(data_dir, "sessions", "list")["sessions"][0]["is_connected"] is False
