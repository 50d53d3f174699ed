"""Small modal dialogs. Each returns its result through ``dismiss()`` (``push_screen(dialog,
callback)`` or ``await push_screen_wait``); None means cancelled. Enter confirms, escape
cancels, tab moves between fields and buttons. Input is validated as it is typed, with the
one-line error shown under the field.

- AddSessionDialog -> (session_id, label) | None
- ConfirmRemoveDialog(session_id) -> "keep" | "delete" | None
- PhoneNumberDialog -> digits with country code | None
- NewChatDialog -> chat JID string | None
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from watui.domain.jid import normalize_phone, to_chat_jid
from watui.domain.session_id import validate_session_id
from watui.domain.text import printable
from watui.ui.format import clean_line

T = TypeVar("T")

MAX_ERROR = 160  # characters of a field's error line

DIALOG_CSS = """
{cls} {{ align: center middle; }}
{cls} > .dialog {{
    width: 70;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: round $primary;
    border-title-align: center;
    background: $surface;
    padding: 0 1;
}}
{cls} .dialog-text {{ width: 1fr; margin-bottom: 1; }}
{cls} .field-label {{ margin-top: 1; }}
{cls} .field-error {{ color: $error; height: auto; }}
{cls} .buttons {{ height: auto; align-horizontal: right; margin-top: 1; }}
{cls} .buttons Button {{ margin-left: 1; min-width: 10; }}
"""


class _Dialog(ModalScreen[T]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]
    TITLE_TEXT = ""

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _box(self) -> Vertical:
        box = Vertical(classes="dialog")
        box.border_title = self.TITLE_TEXT
        return box


class _FieldsDialog(_Dialog[T]):
    """Inputs with live validation; enter in any input (or OK) confirms when all are valid."""

    # input id -> validator returning an error message or None
    VALIDATORS: dict[str, Callable[[str], str | None]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, str] = {}

    def _error_of(self, input_id: str, value: str) -> str | None:
        check = self.VALIDATORS.get(input_id)
        return check(value) if check else None

    def _show_error(self, input_id: str, message: str | None) -> None:
        widget = self.query_one(f"#{input_id}-error", Static)
        widget.update(Content(message or ""))
        widget.display = bool(message)
        if message:
            self.errors[input_id] = message
        else:
            self.errors.pop(input_id, None)

    @on(Input.Changed)
    def _validate_live(self, event: Input.Changed) -> None:
        if event.input.id:
            # nothing typed yet is not an error worth shouting about
            error = self._error_of(event.input.id, event.value) if event.value else None
            self._show_error(event.input.id, error)

    def validate_all(self) -> bool:
        ok = True
        for input_widget in self.query(Input):
            if input_widget.id in self.VALIDATORS:
                error = self._error_of(input_widget.id, input_widget.value)
                self._show_error(input_widget.id, error)
                ok = ok and error is None
        return ok

    def result(self) -> T:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    def action_confirm(self) -> None:
        if self.validate_all():
            self.dismiss(self.result())
        else:
            first = next(iter(self.errors))
            self.query_one(f"#{first}", Input).focus()

    def _field(self, label: str, input_id: str, placeholder: str = "", value: str = "") -> ComposeResult:
        yield Label(label, classes="field-label")
        yield Input(value=value, placeholder=placeholder, id=input_id)
        error = Static("", id=f"{input_id}-error", classes="field-error", markup=False)
        error.display = False
        yield error

    def _buttons(self, ok_label: str = "OK") -> ComposeResult:
        with Horizontal(classes="buttons"):
            yield Button(ok_label, id="ok", variant="primary")
            yield Button("Cancel", id="cancel")


def _message(check: Callable[[str], object]) -> Callable[[str], str | None]:
    def validator(value: str) -> str | None:
        try:
            check(value)
        except ValueError as exc:
            # one line, bounded: the message quotes what was typed (or pasted)
            return clean_line(str(exc), MAX_ERROR)
        return None

    return validator


class AddSessionDialog(_FieldsDialog[tuple[str, str] | None]):
    """A new session's id (validated live) and optional label."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="AddSessionDialog")
    TITLE_TEXT = "Add a session"
    VALIDATORS = {"session-id": _message(validate_session_id)}

    def __init__(self, existing: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.existing = set(existing)

    def _error_of(self, input_id: str, value: str) -> str | None:
        error = super()._error_of(input_id, value)
        if error is None and input_id == "session-id" and value in self.existing:
            return clean_line(f"session already exists: {value}", MAX_ERROR)
        return error

    def compose(self) -> ComposeResult:
        with self._box():
            yield from self._field("Id (a-z, 0-9, - and _; used in file names)", "session-id", "work")
            yield from self._field("Label (optional)", "session-label", "Work phone")
            yield from self._buttons("Add")

    def result(self) -> tuple[str, str]:
        return (
            self.query_one("#session-id", Input).value,
            self.query_one("#session-label", Input).value.strip(),
        )


class PhoneNumberDialog(_FieldsDialog[str | None]):
    """The phone number to pair with (digits with country code)."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="PhoneNumberDialog")
    TITLE_TEXT = "Pair with a phone number"
    VALIDATORS = {"phone": _message(normalize_phone)}

    def compose(self) -> ComposeResult:
        with self._box():
            yield from self._field("Your phone number, with country code", "phone", "+1 555 123 4567")
            yield from self._buttons("Get code")

    def result(self) -> str:
        return normalize_phone(self.query_one("#phone", Input).value)


class NewChatDialog(_FieldsDialog[str | None]):
    """A recipient: a phone number or a JID."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="NewChatDialog")
    TITLE_TEXT = "New chat"
    VALIDATORS = {"recipient": _message(to_chat_jid)}

    def compose(self) -> ComposeResult:
        with self._box():
            yield from self._field(
                "Phone number with country code, or a JID", "recipient", "+1 555 123 4567"
            )
            yield from self._buttons("Open")

    def result(self) -> str:
        return str(to_chat_jid(self.query_one("#recipient", Input).value.strip()))


class ConfirmRemoveDialog(_Dialog[str | None]):
    """Remove a session: keep its chats in the store, delete them too, or cancel."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="ConfirmRemoveDialog")
    TITLE_TEXT = "Remove session"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("left", "app.focus_previous", show=False),
        Binding("right", "app.focus_next", show=False),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id

    def compose(self) -> ComposeResult:
        name = printable(self.session_id, single_line=True)
        with self._box():
            yield Static(
                Content(
                    f"Remove session {name!r} from watui? "
                    "Keep its chats and messages in the database, or delete them too?"
                ),
                classes="dialog-text",
            )
            with Horizontal(classes="buttons"):
                yield Button("Remove, keep chats", id="keep", variant="warning")
                yield Button("Remove and delete chats", id="delete", variant="error")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id if event.button.id in ("keep", "delete") else None)


__all__ = ["AddSessionDialog", "ConfirmRemoveDialog", "NewChatDialog", "PhoneNumberDialog"]
