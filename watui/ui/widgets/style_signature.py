"""What a line-API widget's cached lines are drawn with."""

from __future__ import annotations

from textual.widget import Widget


def style_signature(widget: Widget) -> tuple:
    """The widget's style and its component classes' styles; () before they are known.

    Textual calls ``notify_style_update`` on every focus change too (the :focus
    pseudo-class), and opening a chat moves the focus: a widget that caches drawn lines
    compares this signature and drops its cache only when it changed (a theme, CSS)."""
    try:
        return (widget.rich_style, *map(widget.get_component_rich_style, sorted(widget.COMPONENT_CLASSES)))
    except KeyError:  # styled before its component classes are known (not mounted yet)
        return ()
