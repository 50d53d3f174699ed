import dataclasses
import os
import stat
import tomllib
from pathlib import Path

import pytest

from watui.config import (
    Config,
    EngineConfig,
    NotificationsConfig,
    SessionConfig,
    StoreConfig,
    add_session,
    apply_env_overrides,
    edit_config,
    load_config,
    parse_config,
    remove_session,
    scan_key_lines,
    set_default_session,
    set_theme,
)
from watui.domain.errors import ConfigError, InvalidSessionId, SessionExists, SessionNotFound

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"

TWO_SESSIONS = """\
default_session = "work"
theme = "solarized-dark"

[store]
path = "msgs.db"

[[sessions]]
id = "work"
label = "Work"

[[sessions]]
id = "personal"
db_uri = "postgres://u:p@localhost/personal"

[keymap]
"session.next" = "alt+down"

[notifications]
desktop = "osc9"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def error_of(text: str, file: str = "/x/config.toml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file)
    message = str(info.value)
    assert "\n" not in message
    return message


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- typed values -------------------------------------------------------------------------


def test_parse_full_config():
    config = parse_config(TWO_SESSIONS)
    assert config == Config(
        default_session="work",
        theme="solarized-dark",
        store=StoreConfig(path="msgs.db"),
        sessions=[
            SessionConfig(id="work", label="Work"),
            SessionConfig(id="personal", db_uri="postgres://u:p@localhost/personal"),
        ],
        keymap={"session.next": "alt+down"},
        notifications=NotificationsConfig(desktop="osc9"),
    )
    assert config.engine == EngineConfig(backend="neonize", isolation="process")
    assert config.session("personal").name == "personal"
    assert config.session("work").name == "Work"
    with pytest.raises(SessionNotFound):
        config.session("nope")


def test_config_is_frozen():
    config = parse_config(TWO_SESSIONS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.theme = "x"  # type: ignore[misc]


# --- bad input, one line each -------------------------------------------------------------


def test_unknown_key_at_top_level():
    text = '[[sessions]]\nid = "a"\n'
    message = error_of('colour = "red"\n' + text)
    assert message.startswith("/x/config.toml:1: unknown key 'colour' at top level (expected: ")
    assert "default_session, theme, data_dir" in message


def test_unknown_key_in_store():
    text = '[[sessions]]\nid = "a"\n\n# comment\n\n[store]\npath = ""\ncolour = 1\n'
    assert error_of(text) == "/x/config.toml:8: unknown key 'colour' in [store] (expected: path)"


def test_unknown_key_in_sessions():
    text = '[[sessions]]\nid = "a"\n\n[[sessions]]\nid = "b"\nlable = "B"\n'
    assert error_of(text) == (
        "/x/config.toml:6: unknown key 'lable' in sessions[1] "
        "(expected: id, label, db_uri, keys_db_uri)"
    )


def test_unknown_key_via_dotted_key_and_inline_table():
    text = '[[sessions]]\nid = "a"\n'
    assert error_of('store.colour = 1\n' + text).startswith(
        "/x/config.toml:1: unknown key 'colour' in [store]"
    )
    assert error_of('engine = { colour = 1 }\n' + text).startswith(
        "/x/config.toml:1: unknown key 'colour' in [engine]"
    )


def test_wrong_types():
    sessions = '[[sessions]]\nid = "a"\n'
    assert error_of('\n\ntheme = 3\n' + sessions) == (
        "/x/config.toml:3: theme: expected a string, got integer"
    )
    assert error_of(sessions + '[notifications]\nbell = "yes"\n') == (
        "/x/config.toml:4: notifications.bell: expected a boolean (true or false), got string"
    )
    assert error_of(sessions + 'label = true\n') == (
        "/x/config.toml:3: sessions[0].label: expected a string, got boolean"
    )
    assert error_of('store = "x.db"\n' + sessions) == (
        "/x/config.toml:1: store: expected a table, got string"
    )
    assert error_of('[sessions]\nid = "a"\n') == (
        "/x/config.toml:1: sessions: expected an array of tables, got table"
    )
    assert error_of(sessions + '[keymap]\n"session.next" = 1\n') == (
        '/x/config.toml:4: keymap."session.next": expected a string, got integer'
    )


def test_literal_choices():
    sessions = '[[sessions]]\nid = "a"\n'
    assert error_of(sessions + '[engine]\nbackend = "go"\n') == (
        "/x/config.toml:4: engine.backend: expected one of 'neonize', 'sim', got 'go'"
    )
    assert error_of(sessions + '[engine]\nisolation = 1\n') == (
        "/x/config.toml:4: engine.isolation: expected one of 'process', 'inline', got integer"
    )
    assert error_of(sessions + '[notifications]\ndesktop = "growl"\n') == (
        "/x/config.toml:4: notifications.desktop: expected one of 'off', 'osc9', 'osc777', "
        "got 'growl'"
    )


@pytest.mark.parametrize("bad", ["../x", "Work", "", "a" * 33, "-a", "a b"])
def test_bad_session_id(bad):
    message = error_of(f'[[sessions]]\nid = "ok"\n\n[[sessions]]\nid = "{bad}"\n')
    assert message.startswith("/x/config.toml:5: sessions[1].id: invalid session id")


def test_missing_session_id_points_at_its_table():
    message = error_of('[[sessions]]\nid = "a"\n\n[[sessions]]\nlabel = "B"\n')
    assert message == "/x/config.toml:4: sessions[1].id: required key missing"


def test_duplicate_session_id():
    text = '[[sessions]]\nid = "work"\n[[sessions]]\nid = "home"\n[[sessions]]\nid = "work"\n'
    assert error_of(text) == "/x/config.toml:6: duplicate session id 'work' (sessions[2])"


def test_default_session_must_exist():
    text = 'default_session = "home"\n[[sessions]]\nid = "work"\n'
    assert error_of(text) == (
        "/x/config.toml:1: default_session: 'home' is not a configured session (configured: work)"
    )


def test_without_default_session_key_the_first_session_leads():
    config = parse_config('[[sessions]]\nid = "work"\n[[sessions]]\nid = "home"\n', "/x/config.toml")
    assert config.default_session == "work"


def test_no_sessions():
    assert error_of("") == (
        "/x/config.toml: no sessions configured: add at least one [[sessions]] table with an id"
    )
    assert error_of("sessions = []\n").startswith("/x/config.toml:1: no sessions configured")


def test_bad_db_uri():
    text = '[[sessions]]\nid = "default"\ndb_uri = "mysql://h/db"\n'
    assert error_of(text) == (
        "/x/config.toml:3: sessions[0].db_uri: expected a sqlite path or a postgres:// URL, "
        "got 'mysql://h/db'"
    )


def test_empty_theme():
    assert error_of('theme = " "\n[[sessions]]\nid = "default"\n') == (
        "/x/config.toml:1: theme: expected a non-empty string"
    )


def test_syntax_error_names_file_and_line():
    message = error_of('[[sessions]]\nid = "default"\nlabel = \n')
    assert message.startswith("/x/config.toml:3: invalid TOML: ")
    assert "column" in message
    message = error_of('[[sessions]]\nid = "default"\n[store\n')
    assert message.startswith("/x/config.toml:3: invalid TOML: ")


def test_scanner_tracks_tables_arrays_and_multiline_strings():
    text = (
        'theme = "x"\n'  # 1
        'data_dir = """\n'  # 2
        'path = "not a key"\n'  # 3
        '"""\n'  # 4
        "[[sessions]]\n"  # 5
        'id = "a"\n'  # 6
        "[[sessions]]  # second\n"  # 7
        "  id = 'b'\n"  # 8
        "[ keymap ]\n"  # 9
        "'a.b' = \"x\"\n"  # 10
    )
    lines = scan_key_lines(text)
    assert lines[("theme",)] == 1
    assert lines[("data_dir",)] == 2
    assert ("path",) not in lines
    assert lines[("sessions", 0)] == 5
    assert lines[("sessions", 0, "id")] == 6
    assert lines[("sessions", 1)] == 7
    assert lines[("sessions", 1, "id")] == 8
    assert lines[("keymap", "a.b")] == 10


# --- env overrides ------------------------------------------------------------------------


BASE = parse_config(TWO_SESSIONS)  # default_session = work; sessions work, personal


def test_env_sessions_adds_trimmed_unique_valid_ids():
    config = apply_env_overrides(BASE, {"SESSIONS": " work, extra ,,personal, two-b ,"})
    assert config.session_ids == ["work", "personal", "extra", "two-b"]
    assert config.session("extra") == SessionConfig(id="extra")


def test_env_sessions_bad_id():
    with pytest.raises(ConfigError) as info:
        apply_env_overrides(BASE, {"SESSIONS": "ok,../x"})
    assert str(info.value).startswith("environment variable SESSIONS: invalid session id '../x'")


def test_env_db_uri_targets_default_session():
    config = apply_env_overrides(BASE, {"DB_URI": "/db/main.db", "DB_KEYS_URI": "/db/keys.db"})
    assert config.session("work").db_uri == "/db/main.db"
    assert config.session("work").keys_db_uri == "/db/keys.db"
    assert config.session("personal") == BASE.session("personal")


def test_env_per_session_uris():
    env = {
        "SESSIONS": "two-b",
        "PERSONAL_DB_URI": "/db/p.db",
        "PERSONAL_DB_KEYS_URI": "/db/pk.db",
        "TWO_B_DB_URI": "file:/db/t.db",
        "DB_URI": "/db/main.db",
        "WORK_DB_URI": "/db/specific.db",  # the named variable wins over DB_URI
        "DB_KEYS_URI": "",  # empty means unset, as in the seed's example
    }
    config = apply_env_overrides(BASE, env)
    assert config.session("personal").db_uri == "/db/p.db"
    assert config.session("personal").keys_db_uri == "/db/pk.db"
    assert config.session("two-b").db_uri == "file:/db/t.db"
    assert config.session("work").db_uri == "/db/specific.db"
    assert config.session("work").keys_db_uri == ""


def test_env_bad_uri_names_variable():
    with pytest.raises(ConfigError) as info:
        apply_env_overrides(BASE, {"WORK_DB_URI": "mysql://x"})
    assert str(info.value).startswith("environment variable WORK_DB_URI: expected a sqlite path")


def test_env_overrides_are_never_written_back(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    env = {"SESSIONS": "extra", "DB_URI": "/db/main.db"}
    loaded = load_config(path, env)
    assert loaded.config.session_ids == ["work", "personal", "extra"]
    assert loaded.config.session("work").db_uri == "/db/main.db"
    set_theme(path, "watui-light")
    on_disk = tomllib.loads(path.read_text())
    assert [s["id"] for s in on_disk["sessions"]] == ["work", "personal"]
    assert "db_uri" not in on_disk["sessions"][0]


# --- loading ------------------------------------------------------------------------------


def test_load_uses_cli_then_env(tmp_path):
    cli = write(tmp_path, TWO_SESSIONS)
    env_file = tmp_path / "env.toml"
    env_file.write_text('[[sessions]]\nid = "default"\n')
    env = {"WATUI_CONFIG": str(env_file)}
    assert load_config(cli, env).path == cli
    loaded = load_config(None, env)
    assert loaded.path == env_file
    assert loaded.config.session_ids == ["default"]
    assert loaded.created is False


def test_first_start_creates_default_config(tmp_path):
    path = tmp_path / "new" / "watui" / "config.toml"
    loaded = load_config(path, {})
    assert loaded.created is True
    assert loaded.path == path
    assert loaded.config == Config(sessions=[SessionConfig(id="default", label="Default")])
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(tmp_path / "new") == 0o700
    again = load_config(path, {})
    assert again.created is False
    assert again.config == loaded.config


def test_load_tightens_a_loose_config_file(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    os.chmod(path, 0o644)
    load_config(path, {})
    assert mode(path) == 0o600


def test_failed_parse_never_rewrites(tmp_path):
    path = write(tmp_path, '[[sessions]]\nid = "default"\nlabel = \n')
    before = snapshot(path)
    with pytest.raises(ConfigError):
        load_config(path, {})
    with pytest.raises(ConfigError):
        set_theme(path, "watui-light")
    with pytest.raises(ConfigError):
        add_session(path, "work")
    assert snapshot(path) == before


def test_invalid_file_is_not_rewritten_by_edits(tmp_path):
    path = write(tmp_path, '[[sessions]]\nid = "default"\ncolour = "x"\n')
    before = snapshot(path)
    with pytest.raises(ConfigError) as info:
        set_theme(path, "watui-light")
    assert str(info.value).startswith(f"{path}:3: unknown key 'colour'")
    assert snapshot(path) == before


def test_unreadable_and_non_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, {})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path, {})  # a directory


def test_example_config_is_valid_and_documents_every_field():
    text = EXAMPLE.read_text()
    config = parse_config(text, EXAMPLE)
    # the example shows the defaults, so its values cannot drift from the code either
    assert config == Config(sessions=[SessionConfig(id="default", label="Default")])
    doc = tomllib.loads(text)

    def check(cls: type, table: dict, where: str) -> None:
        for f in dataclasses.fields(cls):
            assert f.name in table, f"config.example.toml lacks {where}{f.name}"

    check(Config, doc, "")
    check(StoreConfig, doc["store"], "store.")
    check(EngineConfig, doc["engine"], "engine.")
    check(NotificationsConfig, doc["notifications"], "notifications.")
    check(SessionConfig, doc["sessions"][0], "sessions[0].")
    assert '# "session.next" = "alt+down"' in text
    # every key line is preceded by a comment
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[number - 1].startswith("#"), f"undocumented: {line}"


# --- editing ------------------------------------------------------------------------------


def test_round_trip_load_edit_load(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    before = load_config(path, {}).config
    edited = edit_config(path, lambda doc: None)
    assert edited == before
    assert load_config(path, {}).config == before
    set_theme(path, "watui-light")
    after = load_config(path, {}).config
    assert after == dataclasses.replace(before, theme="watui-light")


def test_edit_keeps_every_other_setting(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    before = tomllib.loads(path.read_text())
    add_session(path, "third", label="Third")
    after = tomllib.loads(path.read_text())
    assert after["sessions"][:2] == before["sessions"]
    assert after["sessions"][2] == {"id": "third", "label": "Third"}
    # as tables, not an inline array, so later errors can point at their lines
    assert path.read_text().count("[[sessions]]\n") == 3
    assert {k: v for k, v in after.items() if k != "sessions"} == {
        k: v for k, v in before.items() if k != "sessions"
    }


def test_edit_may_return_a_new_document(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    config = edit_config(path, lambda doc: {**doc, "theme": "high-contrast"})
    assert config.theme == "high-contrast"
    assert load_config(path, {}).config.theme == "high-contrast"


def test_invalid_edit_leaves_file_untouched(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    before = snapshot(path)
    with pytest.raises(ConfigError) as info:
        edit_config(path, lambda doc: doc["store"].update(colour=1))
    assert str(info.value) == f"{path}: unknown key 'colour' in [store] (expected: path)"
    with pytest.raises(ConfigError):
        set_theme(path, "")
    assert snapshot(path) == before


def test_atomic_write_leaves_no_temp_files_and_is_private(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    os.chmod(path, 0o644)
    set_theme(path, "watui-light")
    set_default_session(path, "personal")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]
    assert mode(path) == 0o600


def test_edit_of_missing_file_starts_from_first_start_config(tmp_path):
    path = tmp_path / "config.toml"
    config = add_session(path, "work")
    assert config.session_ids == ["default", "work"]


def test_add_session(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    config = add_session(path, "third")
    assert config.session("third") == SessionConfig(id="third")
    with pytest.raises(SessionExists, match="^session already exists: work$"):
        add_session(path, "work")
    with pytest.raises(InvalidSessionId):
        add_session(path, "../x")
    assert load_config(path, {}).config.session_ids == ["work", "personal", "third"]


def test_remove_session(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    with pytest.raises(SessionNotFound, match="^session not found: nope$"):
        remove_session(path, "nope")
    config = remove_session(path, "personal")
    assert config.session_ids == ["work"] and config.default_session == "work"
    with pytest.raises(ConfigError, match="only session"):
        remove_session(path, "work")
    assert load_config(path, {}).config.session_ids == ["work"]


def test_remove_default_moves_default_to_first_remaining(tmp_path):
    path = write(tmp_path, TWO_SESSIONS.replace('default_session = "work"\n', ""))
    path.write_text(path.read_text().replace('id = "work"', 'id = "default"'))
    add_session(path, "zeta")
    config = remove_session(path, "default")  # default_session was implicit
    assert config.default_session == "personal"
    assert load_config(path, {}).config.default_session == "personal"


def test_set_default_session(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    assert set_default_session(path, "personal").default_session == "personal"
    with pytest.raises(SessionNotFound, match="^session not found: nope$"):
        set_default_session(path, "nope")
    assert load_config(path, {}).config.default_session == "personal"


def test_set_theme(tmp_path):
    path = write(tmp_path, TWO_SESSIONS)
    assert set_theme(path, "high-contrast").theme == "high-contrast"
    assert load_config(path, {}).config.theme == "high-contrast"
