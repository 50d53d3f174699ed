"""`watui` with no subcommand: the terminal UI (serving the control socket while it runs)."""

from __future__ import annotations

import argparse

from watui.runtime import Environment, build_runtime


async def run(args: argparse.Namespace, environment: Environment) -> int:
    runtime = await build_runtime(environment, start=False)
    server = None
    try:
        from watui.control.daemon import serve_runtime

        # before the app starts the sessions, so the socket sees every pairing code
        server = await serve_runtime(runtime, mode="tui")
        # imported here: the one-shot commands should not pay for loading Textual
        from watui.ui.app import WatuiApp

        app = WatuiApp(runtime, control=server)
        await app.run_async()
    finally:
        if server is not None:
            await server.stop()
        await runtime.close()
    return app.return_code or 0
