"""`watui daemon`: every session headless, served on the control socket."""

from __future__ import annotations

import argparse
import os
import sys

from watui.runtime import Environment


def register(commands: argparse._SubParsersAction) -> None:
    daemon = commands.add_parser(
        "daemon", help="run every session headless, serving the control socket (stop: SIGTERM or ctrl-c)"
    )
    daemon.set_defaults(run=run)


async def run(args: argparse.Namespace, environment: Environment) -> int:
    from watui.control.daemon import run_daemon

    def ready(server) -> None:
        print(f"watui daemon: pid {os.getpid()}, socket {server.path}", file=sys.stderr, flush=True)

    return await run_daemon(environment, ready=ready)
