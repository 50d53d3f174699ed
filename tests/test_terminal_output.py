"""The terminal is sacred: run the real app on the real engine in a pseudo-terminal and
check that not one byte of Go's or neonize's output reaches it, in both isolation modes,
and that ctrl+q gives the terminal back promptly with no engine process left."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

# Things whatsmeow and neonize print on their own (dial errors, the ffmpeg warning, the
# logging handler neonize installs): none may appear among the UI's bytes.
ENGINE_WORDS = ("failed to dial", "no such host", "ffmpeg", "neonize", "websocket", "Press Ctrl+C")


def run_in_pty(args, env, *, until: bytes, timeout: float = 30.0):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    output = bytearray()

    def read_for(seconds: float, stop: bytes | None = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                output.extend(chunk)
                if stop and stop in output:
                    return
            elif process.poll() is not None:
                return

    try:
        read_for(timeout, until)
        assert until in output, f"the UI never showed {until!r}"
        read_for(1.0)  # let a few more dial failures happen
        quit_at = time.monotonic()
        os.write(master, b"\x11")  # ctrl+q
        read_for(10.0)
        process.wait(timeout=10)
        quit_took = time.monotonic() - quit_at
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return bytes(output), process.returncode, quit_took


@pytest.mark.parametrize("isolation", ["process", "inline"])
def test_no_engine_output_on_the_terminal_and_a_prompt_quit(tmp_path, isolation):
    config = tmp_path / "config.toml"
    config.write_text(f'[engine]\nbackend = "neonize"\nisolation = "{isolation}"\n\n[[sessions]]\nid = "default"\n')
    env = {
        **os.environ, "TERM": "xterm-256color", "WATUI_CONFIG": str(config),
        "WATUI_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "100", "LINES": "30",
    }
    output, code, quit_took = run_in_pty([sys.executable, "-m", "watui"], env, until=b"retrying in")
    text = output.decode("utf-8", errors="replace")
    assert code == 0
    assert quit_took < 5.0, f"quit took {quit_took:.1f} s"
    leaked = [word for word in ENGINE_WORDS if word.lower() in text.lower()]
    assert not leaked, f"engine output reached the terminal: {leaked}"
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "data" / "logs").iterdir())
    assert "no such host" in logs  # it was said, to the log
    engines = subprocess.run(["pgrep", "-f", f"--session default .*{tmp_path}"], capture_output=True)
    assert engines.stdout == b""
