"""The composer: a multi-line TextArea where Enter sends and a configurable key inserts a
newline, with a reply banner and a draft per chat.

Keys are Bindings with ids so users can remap them with ``App.set_keymap``:
``composer.send`` (enter), ``composer.newline`` (ctrl+j, alt+enter) and
``composer.cancel_reply`` (escape, only while a reply is pending). Send and newline are
priority bindings because TextArea consumes Enter in its own key handler.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from textual.binding import Binding
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.widgets import TextArea

from watui.domain.models import Message
from watui.ui.format import clean_line, name_for

DraftKey = Hashable  # (session_id, chat_jid) in practice


class Composer(TextArea):
    """Multi-line message input. Attributes down: ``reply_to``, ``names``; messages up:
    :class:`Composer.Submitted`, :class:`Composer.ReplyCancelled`."""

    BINDINGS = [
        Binding("enter", "submit", "Send", id="composer.send", priority=True, tooltip="Send the message"),
        Binding(
            "ctrl+j,alt+enter",
            "newline",
            "Newline",
            id="composer.newline",
            priority=True,
            tooltip="Insert a newline",
        ),
        Binding(
            "escape",
            "cancel_reply",
            "Cancel reply",
            id="composer.cancel_reply",
            priority=True,
            tooltip="Stop replying to the quoted message",
        ),
    ]

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 10;
    }
    Composer.-replying {
        border-title-color: $accent;
        border-title-style: bold;
    }
    """

    PLACEHOLDER = "Message (Enter sends, Ctrl+J newline)"

    @dataclass
    class Submitted(TextualMessage):
        """The user pressed send on non-empty text."""

        composer: Composer
        text: str
        reply_to: Message | None = None

        @property
        def control(self) -> Composer:
            return self.composer

    @dataclass
    class ReplyCancelled(TextualMessage):
        composer: Composer
        message: Message

        @property
        def control(self) -> Composer:
            return self.composer

    def __init__(
        self,
        text: str = "",
        *,
        placeholder: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            text,
            language=None,
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder=self.PLACEHOLDER if placeholder is None else placeholder,
            name=name,
            id=id,
            classes=classes,
            disabled=disabled,
        )
        #: Drafts by key ((session_id, chat_jid)): text the user has not sent yet. The app
        #: may persist this dict and restore it with ``composer.drafts.update(...)``.
        self.drafts: dict[DraftKey, str] = {}
        #: jid -> display name for the reply banner.
        self.names: Mapping[str, str] = {}
        self.draft_key: DraftKey | None = None
        self._reply_to: Message | None = None

    # --- reply ------------------------------------------------------------------------

    @property
    def reply_to(self) -> Message | None:
        """The message being replied to; setting it shows the banner."""
        return self._reply_to

    @reply_to.setter
    def reply_to(self, message: Message | None) -> None:
        self._reply_to = message
        self._update_banner()

    def _update_banner(self) -> None:
        message = self._reply_to
        self.set_class(message is not None, "-replying")
        if message is None:
            self.border_title = None
            return
        if message.is_from_me:
            who = "yourself"
        else:
            who = name_for(message.sender, self.names, clean_line(message.push_name, 64))
        preview = clean_line(message.preview, 80)
        # Content, not str: a str border title would be parsed as markup
        self.border_title = Content(f"Replying to {who}: {preview} (esc cancels)")

    def action_cancel_reply(self) -> None:
        message = self._reply_to
        if message is not None:
            self.reply_to = None
            self.post_message(self.ReplyCancelled(self, message))

    # --- sending ----------------------------------------------------------------------

    # Priority bindings run in the App as soon as the key arrives, while the characters typed
    # just before it may still wait in this widget's queue (a burst over SSH arrives in one
    # read). call_later queues the real work behind them, so nothing typed is left out.
    def action_submit(self) -> None:
        self.call_later(self._submit)

    def action_newline(self) -> None:
        self.call_later(self._newline)

    def _submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        reply = self._reply_to
        self.clear()
        self.reply_to = None
        if self.draft_key is not None:
            self.drafts.pop(self.draft_key, None)
        self.post_message(self.Submitted(self, text.strip("\n"), reply))

    def _newline(self) -> None:
        if self.read_only:
            return
        self.insert("\n")
        self.scroll_cursor_visible()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_reply":
            return self._reply_to is not None
        if action in ("submit", "newline"):
            return not self.read_only
        return super().check_action(action, parameters)

    # --- drafts -----------------------------------------------------------------------

    def save_draft(self, key: DraftKey | None = None) -> None:
        """Keep the current text under ``key`` (default: the loaded key); empty text drops it."""
        key = self.draft_key if key is None else key
        if key is None:
            return
        text = self.text
        if text.strip():
            self.drafts[key] = text
        else:
            self.drafts.pop(key, None)

    def load_draft(self, key: DraftKey) -> None:
        """Show the draft kept under ``key`` (empty if none) and make it the current key.
        A pending reply belongs to the chat being left, so it is cleared."""
        self.draft_key = key
        self.load_text(self.drafts.get(key, ""))
        self.reply_to = None
        last_line = self.document.line_count - 1
        self.move_cursor((last_line, len(self.document[last_line])))

    def switch_draft(self, key: DraftKey) -> None:
        """Save the current draft, then load ``key``'s."""
        self.save_draft()
        self.load_draft(key)


__all__ = ["Composer"]
