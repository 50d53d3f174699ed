"""`watui` with no subcommand: the terminal UI."""

from __future__ import annotations

import argparse

from watui.runtime import Environment, build_runtime


async def run(args: argparse.Namespace, environment: Environment) -> int:
    runtime = await build_runtime(environment, start=False)
    try:
        # imported here: the one-shot commands should not pay for loading Textual
        from watui.ui.app import WatuiApp

        app = WatuiApp(runtime)
        await app.run_async()
    finally:
        await runtime.close()
    return app.return_code or 0
