"""Nothing typed is lost: a draft survives switching chats and restarting the app."""

from __future__ import annotations

import pytest

from watui.runtime import Options, build_runtime, load_environment
from watui.ui.app import WatuiApp
from watui.ui.widgets.chat_list import VirtualChatList
from watui.ui.widgets.composer import Composer


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("WATUI_CONFIG", str(tmp_path / "never-used.toml"))
    for name in ("SESSIONS", "DB_URI", "DB_KEYS_URI", "WATUI_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return lambda: load_environment(Options(demo=True, data_dir=str(tmp_path / "data")))


async def wait_for(pilot, predicate, tries=300):
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause()
    raise AssertionError("condition not reached")


async def open_first_chat(app, pilot):
    chats = app.screen.query_one(VirtualChatList)
    await wait_for(pilot, lambda: len(chats.chats) > 3)
    chats.focus()
    await pilot.press("g", "enter")
    await wait_for(pilot, lambda: app.screen.chat_jid != "")
    return app.screen.chat_jid


async def test_a_draft_survives_a_chat_switch_and_a_restart(env):
    runtime = await build_runtime(env(), start=False)
    app = WatuiApp(runtime)
    async with app.run_test(size=(120, 40)) as pilot:
        first = await open_first_chat(app, pilot)
        await pilot.press(*"unsent words")
        chats = app.screen.query_one(VirtualChatList)
        chats.focus()
        await pilot.press("j", "enter")
        await wait_for(pilot, lambda: app.screen.chat_jid not in ("", first))
        assert app.screen.query_one(Composer).text == ""
        chats.focus()
        await pilot.press("k", "enter")
        await wait_for(pilot, lambda: app.screen.chat_jid == first)
        assert app.screen.query_one(Composer).text == "unsent words"
        await pilot.press("!")
        await app.action_quit()
    await runtime.close()

    runtime = await build_runtime(env(), start=False)
    try:
        assert await runtime.repo.get_drafts("default") == {first: "unsent words!"}
    finally:
        await runtime.close()
