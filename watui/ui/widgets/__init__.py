"""Reusable watui widgets. They receive domain objects as attributes and post messages;
they never open the store or call engines."""

from watui.ui.widgets.chat_list import VirtualChatList
from watui.ui.widgets.composer import Composer
from watui.ui.widgets.message_pane import MessagePane

__all__ = [
    "Composer",
    "MessagePane",
    "VirtualChatList",
]
