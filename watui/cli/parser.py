"""The argument parser. Global options go before the subcommand, as in `git`."""

from __future__ import annotations

import argparse

from watui import __version__
from watui.cli import (
    daemon_command,
    db_commands,
    message_commands,
    pair_command,
    session_commands,
    tui_command,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not the whole usage block
        self.exit(2, f"watui: {message} (see watui --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="watui",
        description="Several WhatsApp accounts side by side in one terminal.",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: $WATUI_CONFIG, "
                        "else the platform config dir)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the store, device stores and "
                        "logs live (default: $WATUI_DATA_DIR, else data_dir in the config, "
                        "else the platform data dir)")
    parser.add_argument("--backend", choices=["neonize", "sim"], help="override [engine] backend")
    parser.add_argument("--demo", action="store_true", help="run on a simulated WhatsApp network "
                        "with demo accounts (a throwaway data dir unless --data-dir is given)")
    parser.add_argument("--version", action="version", version=f"watui {__version__}")
    parser.set_defaults(run=tui_command.run)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    session_commands.register(commands)
    db_commands.register(commands)
    daemon_command.register(commands)
    pair_command.register(commands)
    message_commands.register(commands)
    return parser
