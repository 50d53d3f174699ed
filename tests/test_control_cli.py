"""Pieces of the headless CLI that the end-to-end test cannot reach cheaply: the QR redrawn in
place on a terminal, error lines, parameter binding, and the app serving the socket while the
TUI runs."""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import os

import pytest

import watui.engine.sim.demo as demo
from watui.cli import main
from watui.cli import pair_command
from watui.control import protocol as p
from watui.control.client import SocketClient
from watui.control.daemon import serve_runtime
from watui.domain.errors import EngineError, InvalidJID, SessionExists, SessionNotFound, WatuiError
from watui.runtime import Options, build_runtime, load_environment


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_qr_is_black_on_white_and_redrawn_in_place(monkeypatch):
    out = FakeTTY()
    monkeypatch.setattr("sys.stdout", out)
    payload = {"code": "2@" + "A" * 78 + ",k1,k2,k3", "index": 0, "total": 6, "expires_in": 60}
    drawn = pair_command._draw_qr(payload, 0)
    first = out.getvalue()
    assert not first.startswith("\x1b[") or first.startswith("\x1b[30;47m")
    lines = first.splitlines()
    assert len(lines) == drawn
    assert all(line.startswith("\x1b[30;47m") for line in lines[:-2])
    assert "Code 1 of 6, next in 60 s" in lines[-1]
    drawn_again = pair_command._draw_qr({**payload, "index": 1, "expires_in": 20}, drawn)
    second = out.getvalue()[len(first):]
    assert second.startswith(f"\x1b[{drawn}A\r\x1b[J")  # back over the last drawing, not below it
    assert drawn_again == drawn and "Code 2 of 6, next in 20 s" in second


def test_qr_not_redrawn_when_not_a_terminal(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    payload = {"code": "2@x,a,b,c", "index": 0, "total": 6, "expires_in": 60}
    drawn = pair_command._draw_qr(payload, 0)
    pair_command._draw_qr(payload, drawn)
    assert "\x1b[" + str(drawn) + "A" not in out.getvalue()


def test_error_lines_never_carry_control_characters(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WATUI_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("WATUI_DATA_DIR", str(tmp_path / "data"))
    main(["sessions", "list"])  # the first start's note
    capsys.readouterr()
    code = main(["messages", "--chat", "\x1b]52;c;aGk=\x07@s.whatsapp.net"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "\x1b" not in err and "\x07" not in err and "\\x1b" in err


# --- protocol --------------------------------------------------------------------------------
def test_bind_params_checks_names_required_and_types():
    bound = p.bind_params(p.SendParams, {"to": "1555", "text": "x", "wait": 3})
    assert bound == p.SendParams(to="1555", text="x", wait=3.0) and isinstance(bound.wait, float)
    assert p.bind_params(p.SubscribeParams, {"events": ["message"]}).events == ["message"]
    assert p.bind_params(p.ChatsParams, {"session": None}).session is None
    for params, message in [
        ({"text": "x"}, "missing parameter: to"),
        ({"to": 5, "text": "x"}, "to: expected a string, got a number"),
        ({"to": "1", "text": "x", "wait": "1"}, "wait: expected a number, got a string"),
        ({"to": "1", "text": "x", "session": 3}, "session: expected a string or null, got a number"),
        ({"to": "1", "text": "x", "Session": "a"}, "unknown parameter(s): Session"),
    ]:
        with pytest.raises(p.ControlError, match=message.replace("(", r"\(").replace(")", r"\)")):
            p.bind_params(p.SendParams, params)
    with pytest.raises(p.ControlError, match=r"events\[1\]: expected a string"):
        p.bind_params(p.SubscribeParams, {"events": ["message", 1]})


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (SessionNotFound("x"), 404, "SESSION_NOT_FOUND"),
        (SessionExists("x"), 409, "SESSION_EXISTS"),
        (InvalidJID("bad"), 400, "INVALID_PARAMS"),
        (EngineError("not connected"), 503, "ENGINE_ERROR"),
        (WatuiError("no"), 400, "REJECTED"),
        (TimeoutError(), 504, "TIMEOUT"),
        (KeyError("boom"), 500, "INTERNAL_ERROR"),
    ],
)
def test_errors_map_to_codes(error, status, code):
    mapped = p.error_for(error)
    assert (mapped.status, mapped.code) == (status, code)
    if code == "INTERNAL_ERROR":
        assert "boom" not in mapped.message  # internals stay in the log


def test_responses_are_one_ascii_line():
    line = p.encode(p.success(1, "ok", {"text": "a\x1b[31mb\u202e\n"}))
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and line.isascii()
    assert b"\x1b" not in line


@pytest.mark.parametrize("request_id", [1, "a", None])
def test_request_ids_are_echoed(request_id):
    assert p.parse_request(p.encode({"id": request_id, "method": "m"})).id == request_id
    assert p.failure(request_id, p.ControlError(p.NOT_FOUND, "x"))["id"] == request_id


def test_every_method_has_a_params_dataclass():
    from watui.control.methods import METHODS, ControlService

    for spec in METHODS.values():
        assert dataclasses.is_dataclass(spec.params)
        assert callable(getattr(ControlService, spec.handler))


# --- the app serves the socket while the TUI runs ------------------------------------------------
async def test_the_tui_serves_the_control_socket(tmp_path, monkeypatch):
    from watui.ui.app import WatuiApp

    monkeypatch.setenv("WATUI_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setattr(demo, "build_demo_network",
                        functools.partial(demo.build_demo_network, seed=1, history_chats=20))
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    env = load_environment(Options(demo=True, data_dir=str(tmp_path / "d")))
    runtime = await build_runtime(env, start=False)
    server = await serve_runtime(runtime, mode="tui")
    try:
        app = WatuiApp(runtime, control=server)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            async with await SocketClient.connect(env.paths.data_dir) as client:
                info = (await client.call("server.info")).results
                assert info["mode"] == "tui" and info["sessions"] == ["default", "work", "personal"]
                await client.call("sessions.add", {"session": "extra"})
                await pilot.pause()
                assert "extra" in runtime.manager.session_ids()
            await app.action_quit()
    finally:
        await server.stop()
        await runtime.close()
        runtime.network.close()
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert not (env.paths.data_dir / "watui.sock").exists()
    assert os.path.exists(env.paths.data_dir)
