"""The composition root: from command-line options to a running SessionManager.

The TUI, the daemon and the one-shot CLI commands all start here, so a session is built the
same way whichever front end asks for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from watui import config as cfg
from watui.domain.errors import ConfigError
from watui.engine.protocol import WhatsAppClient
from watui.lock import InstanceLock
from watui.logs import setup_logging
from watui.paths import Paths, resolve_paths
from watui.sessions import SessionManager
from watui.store import ChatStorageRepository

log = logging.getLogger("watui.runtime")

DEMO_CONFIG_NAME = "demo-config.toml"


@dataclass(frozen=True)
class Options:
    """The global command-line options (they come before the subcommand)."""

    config: str | None = None
    data_dir: str | None = None
    backend: str | None = None
    demo: bool = False


@dataclass
class Environment:
    config: cfg.Config
    paths: Paths
    created_config: bool
    demo: bool
    throwaway_dir: Path | None = None
    notes: list[str] = field(default_factory=list)  # one-line messages for the user

    @property
    def backend(self) -> str:
        return self.config.engine.backend

    def cleanup(self) -> None:
        if self.throwaway_dir is not None:
            shutil.rmtree(self.throwaway_dir, ignore_errors=True)


def load_environment(options: Options, env: Mapping[str, str] = os.environ) -> Environment:
    """Read the config (writing a first one if there is none), resolve the data dir and
    start logging to it. Nothing here opens the store or touches an engine."""
    throwaway: Path | None = None
    config_path = options.config
    data_dir = options.data_dir
    if options.demo:
        if data_dir is None and not env.get("WATUI_DATA_DIR"):
            throwaway = Path(tempfile.mkdtemp(prefix="watui-demo-"))
            data_dir = str(throwaway)
        base = Path(data_dir or env["WATUI_DATA_DIR"])
        config_path = config_path or str(base / DEMO_CONFIG_NAME)
        _write_demo_config(Path(config_path))
    loaded = cfg.load_config(config_path, env)
    config = loaded.config
    backend = "sim" if options.demo else options.backend
    if backend is not None:
        if backend not in ("sim", "neonize"):
            raise ConfigError(f"--backend: expected 'sim' or 'neonize', got {backend!r}")
        config = dataclasses.replace(
            config, engine=dataclasses.replace(config.engine, backend=backend)
        )
    paths = resolve_paths(config, loaded.path, data_dir, env)
    paths.ensure_dirs()
    setup_logging(paths.logs_dir)
    environment = Environment(
        config=config,
        paths=paths,
        created_config=loaded.created,
        demo=options.demo,
        throwaway_dir=throwaway,
    )
    if loaded.created and not options.demo:
        environment.notes.append(
            f"watui: wrote a new config with one session 'default' to {loaded.path}"
        )
    return environment


def _write_demo_config(path: Path) -> None:
    """The demo's own config, beside its data: the user's real config is never touched."""
    if path.exists():
        return
    from watui.engine.sim.demo import DEMO_SESSIONS

    def mutate(doc: dict) -> None:
        doc["engine"] = {"backend": "sim", "isolation": "inline"}
        doc["sessions"] = [{"id": s.session_id, "label": s.label} for s in DEMO_SESSIONS]
        doc["default_session"] = DEMO_SESSIONS[0].session_id

    cfg.edit_config(path, mutate)


async def open_store(environment: Environment, *, migrate: bool = True) -> ChatStorageRepository:
    return await ChatStorageRepository.open(environment.paths.store_path, migrate=migrate)


class ConfigRegistry:
    """Keeps run-time session changes in the config file (SessionManager's registry)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add_session(self, session_id: str, label: str) -> None:
        cfg.add_session(self.path, session_id, label)

    def remove_session(self, session_id: str) -> None:
        cfg.remove_session(self.path, session_id)

    def set_default_session(self, session_id: str) -> None:
        cfg.set_default_session(self.path, session_id)


@dataclass
class Runtime:
    environment: Environment
    repo: ChatStorageRepository
    manager: SessionManager
    network: object | None = None  # the SimNetwork on the sim backend
    lock: InstanceLock | None = None

    async def close(self) -> None:
        try:
            await self.manager.shutdown()
            await self.repo.close()
        finally:
            if self.lock is not None:
                self.lock.release()


async def build_runtime(
    environment: Environment, *, start: bool = True, lock: bool = True
) -> Runtime:
    """Open the store, create one client per configured session and (optionally) start them.
    ``lock``: claim the data dir first; a second watui on it is refused."""
    instance_lock = InstanceLock(environment.paths.data_dir).acquire() if lock else None
    try:
        return await _build(environment, start, instance_lock)
    except BaseException:
        if instance_lock is not None:
            instance_lock.release()
        raise


async def _build(environment: Environment, start: bool, instance_lock: InstanceLock | None) -> Runtime:
    repo = await open_store(environment)
    network = None
    if environment.backend == "sim":
        factory, network = _sim_factory(environment)
    else:
        factory = _neonize_factory(environment)
    manager = SessionManager(repo, factory, registry=ConfigRegistry(environment.paths.config_file))
    for session in environment.config.sessions:
        await manager.add_session(session.id, session.label, start=False, persist=False)
    if environment.config.default_session in manager.session_ids():
        manager.set_default_session(environment.config.default_session, persist=False)
    runtime = Runtime(environment, repo, manager, network, instance_lock)
    if start:
        await manager.start_all()
    return runtime


def _sim_factory(environment: Environment):
    from watui.engine.sim.demo import DEMO_PHONES, DEMO_PREPAIRED, build_demo_network

    network = build_demo_network()
    paths = environment.paths
    sessions = {s.id: s for s in environment.config.sessions}
    if environment.demo:
        # The demo starts with two paired accounts and one waiting for its QR to be scanned.
        for session_id in DEMO_PREPAIRED:
            if session_id in sessions:
                network.pre_pair(
                    session_id, paths.session_db_uri(sessions[session_id]), DEMO_PHONES[session_id]
                )

    def factory(session_id: str) -> WhatsAppClient:
        session = sessions.get(session_id) or cfg.SessionConfig(id=session_id)
        return network.client(session_id, paths.session_db_uri(session))

    return factory, network


NEONIZE_FACTORY = "watui.engine.neonize.client:make_client"


def _neonize_factory(environment: Environment):
    """Real WhatsApp. By default each session's engine is a supervised child process, so a
    Go crash ends one session's engine, not the app; ``inline`` keeps them in this process
    behind one gate (fewer processes, one crash takes everything down)."""
    paths = environment.paths
    sessions = {s.id: s for s in environment.config.sessions}

    def session(session_id: str) -> cfg.SessionConfig:
        return sessions.get(session_id) or cfg.SessionConfig(id=session_id)

    for s in environment.config.sessions:
        if s.keys_db_uri:
            log.warning("session %s: keys_db_uri is ignored: neonize keeps keys in the device store", s.id)

    if environment.config.engine.isolation == "process":
        from watui.engine.isolation.proxy import ProcessClient

        def factory(session_id: str) -> WhatsAppClient:
            return ProcessClient(
                session_id,
                NEONIZE_FACTORY,
                log_path=paths.session_log_path(session_id),
                args={"db_uri": paths.session_db_uri(session(session_id))},
            )

        return factory

    from watui.engine.stdio import divert_stdio

    divert_stdio(paths.logs_dir / "engine.log")
    from watui.engine.neonize.client import NeonizeClient
    from watui.engine.neonize.gate import GoGate

    gate = GoGate()  # one for every client in this process: Go's maps are global
    # each connected neonize client holds an executor thread for its whole life; a small
    # default pool starves every other to_thread call (neonize-notes §1)
    workers = 2 * len(environment.config.sessions) + 8
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=workers))

    def inline_factory(session_id: str) -> WhatsAppClient:
        return NeonizeClient(session_id, paths.session_db_uri(session(session_id)), gate=gate)

    return inline_factory
