"""Command palette providers (ctrl+p): sessions, chats, view. Chats are looked up in the
store by name or number prefix, never by scanning every chat in Python."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content
from textual.markup import escape

from watui.domain.jid import display_for_jid
from watui.domain.text import printable
from watui.ui.format import clean_line
from watui.ui.messages import OpenChat

Command = tuple[str, Callable[[], object], str]  # title, callback, help


def highlight(matcher: Matcher, title: str) -> Content:
    """``title`` with the matched letters highlighted, as plain text. Textual's own
    ``Matcher.highlight`` (and a str prompt or help) is read as markup: a chat named
    ``[@click=app.quit]`` would become a live action in the palette."""
    content = Content(title)
    score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    if score:
        for offset in offsets:
            if not title[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def plain_help(text: str) -> str:
    """Help text (a str the palette reads as markup) with markup escaped."""
    return escape(printable(text, single_line=True))


class _CommandList(Provider):
    """A provider whose commands are a list computed when the palette opens."""

    def commands(self) -> Iterable[Command]:
        raise NotImplementedError

    async def discover(self) -> Hits:
        for title, callback, help_text in self.commands():
            yield DiscoveryHit(Content(title), callback, text=title, help=plain_help(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, highlight(matcher, title), callback, text=title, help=plain_help(help_text))


class SessionCommands(_CommandList):
    def commands(self) -> Iterable[Command]:
        app = self.app
        manager = app.manager
        statuses = manager.get_all_sessions_with_status()
        yield ("Add session…", app.action_add_session, "a new account; it starts unpaired")
        for status in statuses:
            sid, label = status.session_id, clean_line(status.label, 80)
            yield (f"Switch to session: {label} ({sid})", lambda sid=sid: app.select_session(sid), "")
            yield (f"Remove session: {sid}…", lambda sid=sid: app.action_remove_session(sid), "asks first")
            if not status.is_default:
                yield (f"Set default session: {sid}", lambda sid=sid: app.set_default_session(sid), "")
            yield (f"Pair {sid} with QR code", lambda sid=sid: app.run_command_pair_qr(sid), "shows a fresh code")
            yield (f"Pair {sid} with phone number…", lambda sid=sid: app.run_command_pair_phone(sid), "")
            if status.device_id:
                yield (f"Log out {sid}", lambda sid=sid: app.action_logout(sid), "unlink this device; chats are kept")
            if app.runtime.network is not None and not status.is_logged_in:
                yield (f"Simulate scan for {sid}", lambda sid=sid: app.simulate_scan(sid), "demo: pair as if a phone scanned the code")


class ViewCommands(_CommandList):
    def commands(self) -> Iterable[Command]:
        app = self.app
        yield ("New chat by number…", app.action_new_chat, "open a chat with a phone number or JID")
        yield ("Toggle sidebar", app.action_toggle_sidebar, "")
        yield ("Help: keys", app.action_help, "every binding and its key")
        for name in sorted(app.available_themes):
            if not name.startswith("textual-"):
                yield (f"Theme: {name}", lambda name=name: app.set_theme_and_save(name), "saved to config")


class ChatCommands(Provider):
    """Open a chat by name or number, in any session; the store does the lookup."""

    async def search(self, query: str) -> Hits:
        query = query.strip()
        if len(query) < 1:
            return
        app = self.app
        matcher = self.matcher(query)
        for session_id in app.manager.session_ids():
            for chat in await app.repo.lookup_chats(query, session_id=session_id, limit=15):
                name = clean_line(chat.name or display_for_jid(chat.jid), 80)
                title = f"Open chat: {name} ({session_id})"
                score = max(matcher.match(name), 0.1)
                yield Hit(
                    score,
                    highlight(matcher, title),
                    lambda sid=session_id, jid=chat.jid: app.post_message_to_screen(OpenChat(sid, jid)),
                    text=title,
                    help=plain_help(display_for_jid(chat.jid)),
                )
