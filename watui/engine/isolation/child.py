"""The engine host: one session's WhatsApp client in its own process.

    python -m watui.engine.isolation.child --session ID --factory module:function \
        --fd-in N --fd-out M [--log PATH] [--arg key=value ...]

The very first thing it does is point file descriptors 1 and 2 at the log file, so nothing
the engine (or Go underneath it) prints can reach the terminal. It then builds the client
with ``factory(session_id, **args)``, reads command frames from ``--fd-in`` and writes
responses, events and state to ``--fd-out`` (see :mod:`watui.engine.isolation.codec`).
It never writes frames to stdout. When the parent's pipe closes, it disconnects the
client (within a few seconds) and exits; it also exits on the ``shutdown`` command.

Exit codes: 0 after a clean shutdown or EOF, 1 when the client could not be built or the
host failed, 3 when the parent sent a malformed frame.
"""

from __future__ import annotations

import os
import sys

_stdio_isolated = False


def _isolate_stdio(argv: list[str]) -> None:
    """Before anything else (argument errors included): fds 1 and 2 go to the log file
    (or /dev/null), and sys.stdout/sys.stderr write there, line-buffered."""
    global _stdio_isolated  # noqa: PLW0603
    path = os.devnull
    for i, arg in enumerate(argv):
        if arg == "--log" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--log="):
            path = arg.split("=", 1)[1]
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    _stdio_isolated = True
    for name in ("stdout", "stderr"):
        stream = open(  # noqa: SIM115 - lives as long as the process
            1 if name == "stdout" else 2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


if __name__ == "__main__":  # pragma: no branch - must happen before the imports below
    _isolate_stdio(sys.argv[1:])

# The imports come after the redirection on purpose: nothing may print to the terminal.
import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import faulthandler  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

from watui.domain.errors import EngineError  # noqa: E402
from watui.domain.events import Event  # noqa: E402
from watui.engine.isolation.codec import (  # noqa: E402
    FrameError,
    event_frame,
    parse_parent_frame,
    response_frame,
    state_frame,
)
from watui.engine.isolation.pipes import FrameReader, FrameWriter  # noqa: E402
from watui.engine.protocol import ClientState, WhatsAppClient  # noqa: E402

log = logging.getLogger("watui.engine.child")

DISCONNECT_TIMEOUT = 3.0
"""How long the client's disconnect may take on shutdown or EOF before the host exits anyway."""

FRAME_FD_ENV = "WATUI_ENGINE_FRAME_FD"
"""Names, in the host's environment, the fd it writes frames to (for test engines that need
to misbehave on purpose; an environment variable because ``-m`` runs this module as
``__main__``, so a module global would not be seen by an importer)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m watui.engine.isolation.child")
    parser.add_argument("--session", required=True)
    parser.add_argument("--factory", required=True, help="module:function building the client")
    parser.add_argument("--fd-in", type=int, required=True)
    parser.add_argument("--fd-out", type=int, required=True)
    parser.add_argument("--log", default=None)
    parser.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE")
    return parser.parse_args(argv)


def parse_kv(items: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise SystemExit(f"--arg expects KEY=VALUE with an identifier key, got {item!r}")
        result[key] = value
    return result


def load_factory(spec: str) -> Callable[..., WhatsAppClient]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"--factory expects module:function, got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise SystemExit(f"--factory {spec!r} is not callable")
    return target


class ChildHost:
    """Serves one client over a pair of frame pipes."""

    def __init__(self, client: WhatsAppClient, reader: FrameReader, writer: FrameWriter) -> None:
        self.client = client
        self.reader = reader
        self.writer = writer
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_state: ClientState | None = None
        client.set_event_sink(self._on_event)

    # --- outgoing ------------------------------------------------------------------------
    def _state(self) -> ClientState | None:
        try:
            state = self.client.state()
        except Exception:
            log.exception("client.state() failed")
            return None
        self._last_state = state
        return state

    def _send(self, frame: dict[str, Any]) -> None:
        try:
            self.writer.send(frame)
        except FrameError:
            log.exception("cannot send a frame to the parent; dropped")
        except EngineError:
            pass  # the parent is gone; EOF on the command pipe ends us

    def _on_event(self, event: Event) -> None:
        try:
            frame = event_frame(event, self._state())
        except FrameError:
            log.exception("cannot encode event %s; dropped", type(event).__name__)
            return
        self._send(frame)

    def _respond(self, ident: int, *, result: Any = None, error: str | None = None) -> None:
        try:
            frame = response_frame(ident, result=result, error=error, state=self._state())
        except FrameError as encode_error:
            log.exception("cannot encode the answer to command %d", ident)
            frame = response_frame(ident, error=f"engine could not encode its answer: {encode_error}")
        self._send(frame)

    # --- commands ------------------------------------------------------------------------
    async def serve(self) -> int:
        """Until shutdown or EOF. Returns the exit code."""
        state = self._state()
        self._send(state_frame(state or ClientState()))  # hello: the client is built
        code = 0
        while True:
            try:
                obj = await self.reader.read()
            except FrameError as error:
                log.error("malformed frame from the parent: %s", error)
                code = 3
                break
            if obj is None:
                log.info("the parent closed the command pipe")
                break
            try:
                ident, name, args = parse_parent_frame(obj)
            except FrameError as error:
                log.error("malformed command from the parent: %s", error)
                ident = obj.get("id")
                if isinstance(ident, int) and not isinstance(ident, bool) and ident >= 0:
                    self._respond(ident, error=f"malformed command: {error}")
                    continue
                code = 3
                break
            if name == "ping":
                self._respond(ident)
            elif name == "state":
                self._respond(ident, result=self._state() or ClientState())
            elif name == "hold_incoming":
                # at once and in order: a connect sent right after must find the intake held
                self._hold(ident, args["held"])
            elif name == "shutdown":
                await self._stop_client()
                self._respond(ident)
                return code
            else:
                task = asyncio.create_task(self._run(ident, name, args), name=f"engine-{name}-{ident}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        await self._stop_client()
        return code

    def _hold(self, ident: int, held: bool) -> None:
        try:
            self.client.hold_incoming(held)
        except Exception as error:
            log.exception("hold_incoming(%s) failed", held)
            self._respond(ident, error=f"{type(error).__name__}: {error}")
        else:
            self._respond(ident)

    async def _run(self, ident: int, name: str, args: dict[str, Any]) -> None:
        try:
            result = await getattr(self.client, name)(**args)
        except EngineError as error:
            self._respond(ident, error=str(error) or type(error).__name__)
        except Exception as error:
            log.exception("command %s failed", name)
            self._respond(ident, error=f"{type(error).__name__}: {error}")
        else:
            self._respond(ident, result=result)

    async def _stop_client(self) -> None:
        """Disconnect the client, waiting at most DISCONNECT_TIMEOUT. Nothing is cancelled:
        cancelling an engine's connect or stop can freeze the loop (neonize-notes §1); what
        is still running when we give up ends with the process (os._exit)."""
        stopping = asyncio.ensure_future(self.client.disconnect())
        done, _ = await asyncio.wait({stopping}, timeout=DISCONNECT_TIMEOUT)
        if not done:
            log.warning("client disconnect took longer than %.0f s; exiting anyway", DISCONNECT_TIMEOUT)
        elif stopping.exception() is not None:
            log.error("client disconnect failed: %r", stopping.exception())


async def _serve(args: argparse.Namespace) -> int:
    kwargs = parse_kv(args.arg)
    factory = load_factory(args.factory)
    os.environ[FRAME_FD_ENV] = str(args.fd_out)
    writer = await FrameWriter.open(args.fd_out)
    reader = await FrameReader.open(args.fd_in)
    try:
        client = factory(args.session, **kwargs)
        host = ChildHost(client, reader, writer)
        code = await host.serve()
    finally:
        reader.close()
        await writer.close(timeout=2.0)
    return code


def main(argv: list[str] | None = None) -> NoReturn:
    argv = sys.argv[1:] if argv is None else argv
    if not _stdio_isolated:
        _isolate_stdio(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s engine[%(process)d] %(name)s: %(message)s",
        handlers=[logging.StreamHandler(sys.stderr)],
        force=True,
    )
    faulthandler.enable(sys.stderr)
    code = 1
    try:
        args = parse_args(argv)
        log.info("engine host for session %s starting (factory %s)", args.session, args.factory)
        # Not asyncio.run: on the way out it cancels every task and joins the default
        # executor, and an engine may have a thread stuck in a dial for a minute (or a
        # connect task whose cancellation freezes the loop). os._exit below ends it all.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        code = loop.run_until_complete(_serve(args))
        log.info("engine host for session %s exits with %d", args.session, code)
    except SystemExit as stop:
        if isinstance(stop.code, str):
            log.error("%s", stop.code)
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        log.exception("engine host failed")
        code = 1
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    # os._exit: an engine's threads (Go's, or a blocked executor thread) must not hold us.
    os._exit(code)


if __name__ == "__main__":
    main()
