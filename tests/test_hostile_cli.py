"""Hostile text in every CLI output: session labels and the push names and device JIDs
kept in the store come out of `watui sessions list/status` and `watui db status` (text and
--json) without one control or bidi character; undecodable bytes on the command line give
one line of error."""

from __future__ import annotations

import asyncio
import json

import pytest

from watui import config as cfg
from watui.cli import main
from watui.store import ChatStorageRepository

from tests import corpus

# what a push name or label can hold (lone surrogates cannot be stored: see test_faults_store)
NASTY = [v for k, v in corpus.HOSTILE.items() if k not in ("lone-surrogates", "empty")]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WATUI_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.setenv("WATUI_DATA_DIR", str(tmp_path / "data"))
    for name in ("SESSIONS", "DB_URI", "DB_KEYS_URI"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean(text: str) -> None:
    assert not corpus.unsafe(text), corpus.unsafe(text)


def seed_hostile_sessions(home, capsys) -> list[str]:
    """One session per nasty string: the label is the string, and so are the push name and
    (cut to fit) the device JID in the store."""
    assert run(capsys, "sessions", "list")[0] == 0  # writes the first config
    config_path = home / "config" / "config.toml"
    ids = [f"evil{i}" for i in range(len(NASTY))]
    for session_id, text in zip(ids, NASTY, strict=True):
        cfg.add_session(config_path, session_id, text[:500])

    async def store() -> None:
        repo = await ChatStorageRepository.open(home / "data" / "watui.db")
        try:
            for session_id, text in zip(ids, NASTY, strict=True):
                await repo.upsert_session_record(
                    session_id, label=text, device_jid=text[:300], push_name=text
                )
        finally:
            await repo.close()

    asyncio.run(store())
    return ids


def test_sessions_list_and_status_print_no_control_characters(home, capsys):
    ids = seed_hostile_sessions(home, capsys)
    code, out, err = run(capsys, "sessions", "list")
    assert code == 0 and not err
    assert_clean(out)
    lines = out.splitlines()
    assert len(lines) == 1 + 1 + len(ids)  # header, default, one row each: nothing spilled
    assert "[bold red]not bold[/]" in out and "[@click=app.quit]" in out  # literally

    code, out, err = run(capsys, "sessions", "list", "--json")
    assert code == 0
    assert_clean(out)
    sessions = json.loads(out)["results"]["sessions"]
    assert [s["push_name"] for s in sessions[1:]] == NASTY  # exact, escaped only by JSON

    for session_id in ids:
        for extra in ([], ["--json"]):
            code, out, err = run(capsys, "sessions", "status", session_id, *extra)
            assert code == 0 and not err
            assert_clean(out)
            if not extra:
                assert len(out.splitlines()) == len(out.split("\n")) - 1  # one line per field


def test_db_status_prints_no_control_characters(home, capsys):
    seed_hostile_sessions(home, capsys)
    for extra in ([], ["--json"]):
        code, out, err = run(capsys, "db", "status", *extra)
        assert code == 0, err
        assert_clean(out + err)


def test_undecodable_label_is_one_line_of_error_and_the_config_is_untouched(home, capsys):
    run(capsys, "sessions", "list")
    config_path = home / "config" / "config.toml"
    before = config_path.read_bytes()
    # a byte that is not UTF-8 on the command line arrives as a lone surrogate
    code, out, err = run(capsys, "sessions", "add", "work", "--label", "caf\udce9")
    assert code == 1 and not out
    assert err.count("\n") == 1 and "sessions[1].label: expected text, got undecodable bytes" in err
    assert config_path.read_bytes() == before


def test_error_lines_print_no_control_characters(home, capsys):
    run(capsys, "sessions", "list")
    for text in (corpus.HOSTILE["osc52-clipboard"], corpus.HOSTILE["csi-clear"], corpus.HOSTILE["bidi-override"]):
        code, out, err = run(capsys, "sessions", "status", text)
        assert code == 1 and err.count("\n") == 1
        assert_clean(err)
