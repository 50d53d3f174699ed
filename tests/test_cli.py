"""The `watui` command line: run in-process (fast) and once as a real subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from watui.cli import main
from watui.config import load_config
from tests.fixtures.legacy_store import build_legacy_store


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Config and data dirs of our own: the tests never read the real environment's."""
    monkeypatch.setenv("WATUI_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.setenv("WATUI_DATA_DIR", str(tmp_path / "data"))
    for name in ("SESSIONS", "DB_URI", "DB_KEYS_URI"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_first_start_writes_a_config_and_says_where(home, capsys):
    code, out, err = run(capsys, "sessions", "list")
    assert code == 0
    assert f"wrote a new config with one session 'default' to {home / 'config' / 'config.toml'}" in err
    assert "default" in out
    assert oct((home / "config" / "config.toml").stat().st_mode & 0o777) == "0o600"


def test_sessions_list_json_is_the_seed_shape(home, capsys):
    run(capsys, "sessions", "add", "work", "--label", "Work phone")
    code, out, _ = run(capsys, "sessions", "list", "--json")
    data = json.loads(out)
    assert code == 0
    assert {k: data[k] for k in ("status", "code", "message")} == {
        "status": 200, "code": "SUCCESS", "message": "Sessions retrieved successfully"
    }
    sessions = data["results"]["sessions"]
    assert data["results"]["count"] == 2 == len(sessions)
    assert [s["session_id"] for s in sessions] == ["default", "work"]
    for entry in sessions:
        assert {"session_id", "is_connected", "is_logged_in", "device_id", "is_default"} <= set(entry)
    assert [s["is_default"] for s in sessions] == [True, False]


def test_add_remove_and_set_default_are_written_back(home, capsys):
    config_path = home / "config" / "config.toml"
    assert run(capsys, "sessions", "add", "work")[0] == 0
    assert run(capsys, "sessions", "set-default", "work")[0] == 0
    config = load_config(config_path, env={}).config
    assert config.session_ids == ["default", "work"] and config.default_session == "work"
    code, out, _ = run(capsys, "sessions", "remove", "work")
    assert code == 0 and "its chats are kept" in out
    config = load_config(config_path, env={}).config
    assert config.session_ids == ["default"] and config.default_session == "default"


def test_sessions_status_shows_device_store_and_log(home, capsys):
    code, out, _ = run(capsys, "sessions", "status", "default", "--json")
    results = json.loads(out)["results"]
    assert code == 0
    assert results["device_store"] == str(home / "data" / "sessions" / "default.db")
    assert results["log_file"] == str(home / "data" / "logs" / "default.log")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sessions", "add", "Work"), "watui: invalid session id 'Work'"),
        (("sessions", "add", "../x"), "watui: invalid session id '../x'"),
        (("sessions", "add", "default"), "watui: session already exists: default"),
        (("sessions", "remove", "nope"), "watui: session not found: nope"),
        (("sessions", "set-default", "nope"), "watui: session not found: nope"),
        (("sessions", "status", "nope"), "watui: session not found: nope"),
        (("sessions", "remove", "default"), "watui: "),
    ],
)
def test_errors_are_one_line_and_non_zero(home, capsys, args, message):
    run(capsys, "sessions", "list")  # first start, which adds a note of its own
    code, _out, err = run(capsys, *args)
    assert code != 0
    assert err.startswith(message) and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_bad_config_is_one_line_naming_file_line_and_key(home, capsys):
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('theme = "x"\n[store]\ncolour = "red"\n[[sessions]]\nid = "default"\n')
    before = path.read_bytes()
    code, _, err = run(capsys, "sessions", "list")
    assert code == 1
    assert err == f"watui: {path}:3: unknown key 'colour' in [store] (expected: path)\n"
    assert path.read_bytes() == before  # never rewritten after a failed parse


def test_db_status_and_upgrade_of_a_legacy_store(home, capsys):
    data = home / "data"
    data.mkdir(mode=0o700)
    legacy = build_legacy_store(data / "watui.db", chats=3, messages_per_chat=4)
    code, _, err = run(capsys, "db", "status")
    assert code == 1 and "watui db upgrade" in err  # looking never migrates
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0
    code, out, _ = run(capsys, "db", "status", "--json")
    result = json.loads(out)["results"]
    assert code == 0 and result["integrity"] == "ok"
    assert result["schema_version"] == result["latest_version"]
    chats = len(legacy.chats)
    messages = sum(len(chat.messages) for chat in legacy.chats.values())
    assert result["sessions"] == {"default": {"chats": chats, "messages": messages}}
    with sqlite3.connect(data / "watui.db") as db:
        assert db.execute("select count(*) from messages where session_id='default'").fetchone() == (messages,)



def test_search_is_newest_first_and_rank_asks_for_the_best_match(home, capsys):
    import asyncio
    from datetime import UTC, datetime

    from watui.domain.models import Message
    from watui.store import ChatStorageRepository

    run(capsys, "sessions", "list")  # the first start's config, session "default"
    chat = "15550001111@s.whatsapp.net"
    at = datetime(2025, 3, 1, tzinfo=UTC)

    async def fill() -> None:
        async with await ChatStorageRepository.open(home / "data" / "watui.db") as repo:
            await repo.store_messages([
                Message(id="strong", chat_jid=chat, sender=chat, timestamp=at, content="zanzibar zanzibar zanzibar"),
                Message(id="weak", chat_jid=chat, sender=chat, timestamp=at.replace(hour=1),
                        content="a long message that says zanzibar once among many other words"),
            ])

    asyncio.run(fill())
    code, out, _ = run(capsys, "search", "zanzibar", "--json")
    assert code == 0 and [h["message_id"] for h in json.loads(out)["results"]["hits"]] == ["weak", "strong"]
    code, out, _ = run(capsys, "search", "zanzibar", "--rank", "--json")
    assert code == 0 and [h["message_id"] for h in json.loads(out)["results"]["hits"]] == ["strong", "weak"]
    code, out, _ = run(capsys, "search", "zanzibar", "--rank")
    assert code == 0 and out.index("[strong]") < out.index("[weak]")

def test_demo_runs_on_a_throwaway_dir_and_leaves_the_user_config_alone(home, capsys):
    code, out, _ = run(capsys, "--demo", "sessions", "list", "--json")
    ids = [s["session_id"] for s in json.loads(out)["results"]["sessions"]]
    assert code == 0 and ids == ["default", "work", "personal"]
    assert not (home / "config" / "config.toml").exists()


def test_subprocess_version_and_usage_error():
    env = {**os.environ, "WATUI_CONFIG": "/nonexistent/never-read.toml"}
    done = subprocess.run([sys.executable, "-m", "watui", "--version"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.startswith("watui ")
    done = subprocess.run([sys.executable, "-m", "watui", "sessions", "frobnicate"], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "invalid choice" in done.stderr and "Traceback" not in done.stderr


def test_tables_align_by_terminal_cells(capsys):
    from rich.cells import cell_len

    from watui.cli.output import print_table

    print_table(["ID", "LABEL", "STATE"], [["a", "工作 phone", "ok"], ["b", "plain", "ok"]])
    lines = capsys.readouterr().out.splitlines()
    assert len({cell_len(line[: line.index("ok") if "ok" in line else None]) for line in lines[1:]}) == 1
