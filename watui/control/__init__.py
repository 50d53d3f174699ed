"""Headless operation: the control socket (JSON lines over a Unix socket in the data dir),
its methods, the daemon, and the client the CLI uses.

Layer rule: nothing here imports textual.
"""

from watui.control.protocol import SOCKET_NAME, ControlError

__all__ = ["SOCKET_NAME", "ControlError"]
