"""The key reference: every binding active on the screen underneath, with its current key
(after the user's keymap), its description and its id (the name to use in ``[keymap]``),
grouped by where it applies. Closes with escape, q, ? or F1."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


@dataclass(frozen=True)
class HelpEntry:
    group: str
    keys: tuple[str, ...]  # as displayed: "^q", "?", "enter"
    description: str
    binding_id: str | None
    action: str
    enabled: bool = True


def group_title(node: DOMNode) -> str:
    from textual.app import App

    if node.BINDING_GROUP_TITLE:
        return node.BINDING_GROUP_TITLE
    if isinstance(node, App):
        return "Everywhere"
    if isinstance(node, Screen):
        return "This screen"
    return type(node).__name__


def collect_bindings(screen: Screen) -> list[HelpEntry]:
    """The bindings active on ``screen`` (its focused widget up to the app), keymap applied.
    One entry per binding, with all the keys that reach it; order: nearest first."""
    app = screen.app
    entries: dict[tuple[int, str], dict] = {}
    for key, active in screen.active_bindings.items():
        binding: Binding = active.binding
        if binding.system:
            continue
        ident = (id(active.node), binding.id or binding.action)
        display = app.get_key_display(binding.with_key(key))
        entry = entries.get(ident)
        if entry is None:
            entries[ident] = {
                "group": group_title(active.node),
                "keys": [display],
                "description": binding.description or binding.tooltip or binding.action,
                "binding_id": binding.id,
                "action": binding.action,
                "enabled": active.enabled,
            }
        elif display not in entry["keys"]:
            entry["keys"].append(display)
    return [HelpEntry(**{**entry, "keys": tuple(entry["keys"])}) for entry in entries.values()]


EDITING = "Text editing"
_FIRST = ("Everywhere", "This screen")


def grouped(entries: list[HelpEntry]) -> list[tuple[str, list[HelpEntry]]]:
    """watui's own keys first (everywhere, this screen, then the focused widget's); the
    dozens of editing keys a text box inherits, which carry no binding id, come last."""
    groups: dict[str, list[HelpEntry]] = {}
    for entry in entries:
        group = entry.group if entry.binding_id or entry.group in _FIRST else EDITING
        groups.setdefault(group, []).append(entry)

    def rank(title: str) -> tuple[int, int]:
        if title in _FIRST:
            return (0, _FIRST.index(title))
        return (2, 0) if title == EDITING else (1, 0)

    return sorted(groups.items(), key=lambda item: rank(item[0]))


class HelpScreen(ModalScreen[None]):
    """Modal key reference for the screen below it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > #help-box {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: round $primary;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-scroll { height: 1fr; }
    HelpScreen #help-footer { height: 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "Close help", id="help.close"),
    ]

    def __init__(self, target: Screen | None = None) -> None:
        super().__init__()
        self._target = target
        self.entries: list[HelpEntry] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box") as box:
            box.border_title = "Keys"
            with VerticalScroll(id="help-scroll"):
                yield Static(id="help-table", markup=False)
            yield Static("escape / q / ? / F1 close · ↑↓ PgUp PgDn scroll", id="help-footer")

    def on_mount(self) -> None:
        target = self._target or self._screen_below()
        self.entries = collect_bindings(target) if target is not None else []
        self.query_one("#help-table", Static).update(self.render_table())
        self.query_one("#help-scroll").focus()

    def _screen_below(self) -> Screen | None:
        stack = self.app.screen_stack
        if self in stack:
            index = stack.index(self)
            return stack[index - 1] if index > 0 else None
        return stack[-1] if stack else None

    def render_table(self) -> Content:
        if not self.entries:
            return Content("No keys are bound here.")
        key_width = min(18, max(len(", ".join(e.keys)) for e in self.entries))
        desc_width = min(34, max(len(e.description) for e in self.entries))
        lines: list[Content] = []
        for title, entries in grouped(self.entries):
            if lines:
                lines.append(Content(""))
            lines.append(Content.styled(title, "bold $accent"))
            for entry in entries:
                keys = ", ".join(entry.keys)
                style = "" if entry.enabled else "$text-disabled"
                lines.append(
                    Content.assemble(
                        (f"  {keys:<{key_width}}  ", f"bold {style}".strip()),
                        (f"{entry.description:<{desc_width}}  ", style),
                        (entry.binding_id or "", "$text-muted"),
                    )
                )
        return Content("\n").join(lines)

    def text(self) -> str:
        """The table as plain text (what the user reads)."""
        return self.render_table().plain

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["HelpEntry", "HelpScreen", "collect_bindings", "grouped"]
