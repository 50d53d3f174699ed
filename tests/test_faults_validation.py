"""Validation of what a user types or passes: phone numbers, JIDs, session ids and file
paths, in the CLI and the dialogs. Each bad value is refused with one clear line (no
traceback, no control character, bounded), and nothing is written."""

from __future__ import annotations

import os

import pytest
from textual.widgets import Input

from watui.cli import main
from watui.domain.errors import WatuiError
from watui.domain.jid import normalize_phone, parse_jid, to_chat_jid
from watui.domain.session_id import validate_session_id
from watui.ui.screens.dialogs import MAX_ERROR, AddSessionDialog, NewChatDialog, PhoneNumberDialog

from tests import corpus
from tests.test_ui_parts import DialogApp, error_text


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WATUI_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.delenv("WATUI_DATA_DIR", raising=False)
    for name in ("SESSIONS", "DB_URI", "DB_KEYS_URI"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def one_line_error(capsys, *args: str) -> str:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code != 0, (out, err)
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("setup", "args", "expected"),
    [
        ("file", ["--data-dir", "{tmp}/afile", "sessions", "list"], "cannot create it"),
        ("file", ["--data-dir", "{tmp}/afile/sub", "sessions", "list"], "cannot create it"),
        ("", ["--data-dir", "/proc/watui-nope", "sessions", "list"], "cannot create it"),
        ("dir", ["--config", "{tmp}/adir", "sessions", "list"], "cannot read"),
        ("", ["--config", "/proc/watui-nope/c.toml", "sessions", "list"], "cannot write"),
        ("", ["sessions", "status", "Bad!"], "invalid session id 'Bad!'"),
        ("", ["sessions", "add", "../../etc"], "invalid session id '../../etc'"),
        ("", ["sessions", "add", "x" * 33], "invalid session id"),
        ("", ["sessions", "add", ""], "invalid session id: empty"),
        ("", ["sessions", "add", "default"], "session already exists: default"),
        ("", ["sessions", "remove", "nope"], "session not found: nope"),
        ("", ["sessions", "remove", "default"], "it is the only session"),
        ("", ["sessions", "set-default", "nope"], "session not found: nope"),
    ],
)
def test_cli_refuses_bad_values_with_one_line(home, capsys, setup, args, expected):
    (home / "afile").write_text("x")
    (home / "adir").mkdir()
    data = home / "data"
    args = [a.replace("{tmp}", str(home)) for a in args]
    if "--data-dir" not in args:
        args = ["--data-dir", str(data), *args]
    assert main(["--data-dir", str(data), "sessions", "list"]) == 0  # the first config
    capsys.readouterr()
    err = one_line_error(capsys, *args)
    assert expected in err


@pytest.mark.parametrize(
    ("store_path", "expected"),
    [("adir", "not a regular file"), ("afile/x.db", "cannot create the store directory"),
     ("junk.db", "not an SQLite database")],
)
def test_a_bad_store_path_is_one_line_and_the_file_is_untouched(home, capsys, store_path, expected):
    (home / "afile").write_text("x")
    (home / "adir").mkdir()
    (home / "junk.db").write_bytes(b"not a database at all")
    config = home / "c.toml"
    config.write_text(f'[store]\npath = "{home / store_path}"\n[[sessions]]\nid = "default"\n')
    before = config.read_bytes()
    for command in (["sessions", "list"], ["db", "status"], ["db", "upgrade"]):
        err = one_line_error(capsys, "--config", str(config), "--data-dir", str(home / "data"), *command)
        if command[0] == "sessions":  # db status says there is no store there yet
            assert expected in err
    assert (home / "junk.db").read_bytes() == b"not a database at all"
    assert config.read_bytes() == before


def test_validators_refuse_every_hostile_string_with_a_clean_message():
    for name, text in corpus.ALL.items():
        for check in (validate_session_id, parse_jid, normalize_phone, to_chat_jid):
            if name in ("empty", "spaces") and check is to_chat_jid:
                continue
            with pytest.raises(WatuiError) as caught:
                check(text)
            message = str(caught.value)
            assert "\n" not in message and not corpus.CONTROL.search(message), (name, check.__name__)


@pytest.mark.parametrize("dialog,field", [(NewChatDialog, "recipient"), (PhoneNumberDialog, "phone"),
                                          (AddSessionDialog, "session-id")])
async def test_dialogs_show_one_bounded_clean_line_and_refuse(dialog, field):
    app = DialogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open(dialog())
        await pilot.pause()
        box = app.screen.query_one(f"#{field}", Input)
        for key in ("csi-clear", "markup-click", "bidi-override", "zalgo", "word-100k", "lone-surrogates"):
            box.value = corpus.ALL[key]
            await pilot.pause()
            error = error_text(app, field)
            assert error and "\n" not in error and len(error) <= MAX_ERROR, (key, error[:100])
            assert not corpus.unsafe(error), key
            await pilot.press("enter")
            await pilot.pause()
            assert app.results == [] and isinstance(app.screen, dialog)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ('theme = "x"\n[[sessions]]\nid = "default"\nlabel = 3\n', 4, "sessions[0].label"),
        ('[[sessions]]\nid = "default"\n\n[notifications]\nbel = true\n', 5, "'bel'"),
        ('[[sessions]]\nid = "Bad Id"\n', 2, "sessions[0].id"),
        ('[engine]\nbackend = "neonize"\nisolation = "threads"\n[[sessions]]\nid = "a"\n', 3, "engine.isolation"),
        ('[[sessions]]\nid = "default"\nlabel = "unterminated\n', 3, "invalid TOML"),
    ],
    ids=["wrong-type", "unknown-key", "bad-id", "bad-choice", "syntax"],
)
@pytest.mark.parametrize("command", [[], ["sessions", "list"], ["db", "status"]], ids=["tui", "cli", "db"])
def test_a_malformed_config_stops_everything_and_is_never_rewritten(home, capsys, text, line, key, command):
    config = home / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text(text)
    os.chmod(config, 0o600)
    before = (config.read_bytes(), config.stat().st_mtime_ns)
    data = home / "data"
    err = one_line_error(capsys, "--data-dir", str(data), *command)
    assert err.startswith(f"watui: {config}:{line}:") and key in err, err
    assert (config.read_bytes(), config.stat().st_mtime_ns) == before
    assert not data.exists()  # nothing started: no data dir, no store, no lock, no log
