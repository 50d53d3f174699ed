"""`watui daemon`: every session headless, the control socket in front of them.

The same runtime as the app (build_runtime: the store, the SessionManager, the engine) and
the same one-owner rule (the data dir's lock). SIGTERM or SIGINT stops it cleanly: the
socket is closed and removed, every session stops and applies what its engine delivered,
and the exit code is 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

from watui.control.methods import ControlService
from watui.control.server import ControlServer

log = logging.getLogger("watui.daemon")


async def serve_runtime(runtime: Any, *, mode: str) -> ControlServer:
    """Serve ``runtime`` on its data dir's socket (the daemon and the app both call this,
    before the sessions start, so no pairing code is missed)."""
    service = ControlService(
        runtime.repo,
        manager=runtime.manager,
        environment=runtime.environment,
        network=runtime.network,
        mode=mode,
    )
    # the app hands its context over once mounted (WatuiApp(control=server))
    server = ControlServer(service, runtime.environment.paths.data_dir, in_app_context=mode == "tui")
    try:
        await server.start()
    except BaseException:
        service.close()
        raise
    return server


async def run_daemon(environment: Any, *, ready: Callable[[ControlServer], None] | None = None) -> int:
    from watui.runtime import build_runtime

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        runtime = await build_runtime(environment, start=False)
        try:
            server = await serve_runtime(runtime, mode="daemon")
            try:
                await runtime.manager.start_all()
                log.info("daemon serving %d session(s) on %s", len(runtime.manager.session_ids()), server.path)
                if ready is not None:
                    ready(server)
                await stop.wait()
                log.info("daemon stopping")
            finally:
                await server.stop()
        finally:
            try:
                await asyncio.wait_for(runtime.close(), 15.0)
            finally:
                network_close = getattr(runtime.network, "close", None)
                if network_close is not None:
                    with contextlib.suppress(Exception):
                        network_close()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    return 0
