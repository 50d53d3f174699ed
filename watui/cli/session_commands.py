"""`watui sessions list|status|add|remove|set-default|logout`.

When a watui owns the data dir (the daemon or the app) these ask it over the control socket,
so the fields are live and a change reaches the running sessions. Without a running instance
they read and edit the config and the store; `is_connected` is then false for every session,
since nothing is connected.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from watui import config as cfg
from watui.cli.output import print_fields, print_json, print_table, say, seed_response
from watui.control.client import connect, open_standalone
from watui.domain.session_id import validate_session_id
from watui.domain.status import SessionStatus
from watui.paths import is_postgres_url
from watui.runtime import Environment, open_store
from watui.store import ChatStorageRepository


def register(commands: argparse._SubParsersAction) -> None:
    sessions = commands.add_parser("sessions", help="list and manage sessions (accounts)")
    sub = sessions.add_subparsers(title="actions", metavar="ACTION", required=True)

    list_ = sub.add_parser("list", help="every session with its status")
    list_.add_argument("--json", action="store_true", help="the seed's JSON response shape")
    list_.set_defaults(run=list_sessions)

    status = sub.add_parser("status", help="one session in detail")
    status.add_argument("session_id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=session_status)

    add = sub.add_parser("add", help="add a session (it starts unpaired)")
    add.add_argument("session_id")
    add.add_argument("--label", default="")
    add.add_argument("--json", action="store_true")
    add.set_defaults(run=add_session)

    remove = sub.add_parser("remove", help="remove a session from the config")
    remove.add_argument("session_id")
    remove.add_argument("--delete-data", action="store_true",
                        help="also delete its chats, messages and device store")
    remove.add_argument("--json", action="store_true")
    remove.set_defaults(run=remove_session)

    default = sub.add_parser("set-default", help="the session used when none is named")
    default.add_argument("session_id")
    default.add_argument("--json", action="store_true")
    default.set_defaults(run=set_default)

    logout = sub.add_parser("logout", help="unlink the session's device from the account (chats are kept)")
    logout.add_argument("session_id")
    logout.add_argument("--json", action="store_true")
    logout.set_defaults(run=logout_session)


async def _ask_running(environment: Environment, method: str, params: dict | None = None):
    """The running watui's reply, or None when none owns the data dir."""
    client = await connect(environment.paths.data_dir)
    if client is None:
        return None
    async with client:
        return await client.call(method, params)


async def _offline_statuses(environment: Environment, repo: ChatStorageRepository) -> list[SessionStatus]:
    config = environment.config
    statuses = []
    for session in config.sessions:
        record = await repo.get_session_record(session.id) or {}
        statuses.append(
            SessionStatus(
                session_id=session.id,
                label=session.name,
                device_id=record.get("device_jid") or "",
                push_name=record.get("push_name") or "",
                is_default=session.id == config.default_session,
            )
        )
    return statuses


async def list_sessions(args: argparse.Namespace, environment: Environment) -> int:
    reply = await _ask_running(environment, "sessions.list")
    if reply is not None:
        sessions = reply.results["sessions"]
    else:
        async with await open_store(environment) as repo:
            sessions = [s.as_dict() for s in await _offline_statuses(environment, repo)]
    if args.json:
        print_json(seed_response("Sessions retrieved successfully",
                                 {"sessions": sessions, "count": len(sessions)}))
        return 0
    print_table(
        ["", "SESSION", "LABEL", "STATE", "DEVICE", "NOTE"],
        [
            ["*" if s["is_default"] else "", s["session_id"], s["label"], s["state"],
             s["device_id"] or "(not paired)", _note(s)]
            for s in sessions
        ],
    )
    return 0


def _note(status: dict) -> str:
    """What the NOTE column says: an unwritable store first (messages wait on it)."""
    if status.get("store_error"):
        return f"store: {status['store_error']}"
    return status.get("last_error") or ""


async def session_status(args: argparse.Namespace, environment: Environment) -> int:
    paths = environment.paths
    reply = await _ask_running(environment, "sessions.status", {"session": validate_session_id(args.session_id)})
    session = next((s for s in environment.config.sessions if s.id == args.session_id), None)
    if reply is None or session is None:
        session = environment.config.session(args.session_id)
    if reply is not None:
        live = dict(reply.results)
        counts = {k: live.pop(k) for k in ("chats", "messages") if k in live}
        status = live
    else:
        async with await open_store(environment) as repo:
            status = next(
                s for s in await _offline_statuses(environment, repo) if s.session_id == session.id
            ).as_dict()
            chats, messages = (await repo.row_counts()).get(session.id, (0, 0))
        counts = {"chats": chats, "messages": messages}
    device_store = paths.session_db_uri(session)
    details = {
        **status,
        "device_store": "postgres (from config)" if is_postgres_url(device_store) else device_store,
        "log_file": str(paths.session_log_path(session.id)),
        **counts,
    }
    if args.json:
        print_json(seed_response("Session status retrieved successfully", details))
    else:
        print_fields([(k, "" if v is None else v) for k, v in details.items()])
    return 0


async def add_session(args: argparse.Namespace, environment: Environment) -> int:
    session_id = validate_session_id(args.session_id)
    reply = await _ask_running(environment, "sessions.add", {"session": session_id, "label": args.label})
    if reply is not None:
        return _done(args, reply.message, reply.results)
    cfg.add_session(environment.paths.config_file, session_id, args.label)
    async with await open_store(environment) as repo:
        await repo.upsert_session_record(session_id, label=args.label or session_id)
    return _done(args, f"session {session_id} added; pair it with the app or `watui pair {session_id}`",
                 {"session_id": session_id})


async def remove_session(args: argparse.Namespace, environment: Environment) -> int:
    reply = await _ask_running(environment, "sessions.remove", {
        "session": validate_session_id(args.session_id), "delete_data": args.delete_data,
    })
    if reply is not None:
        return _done(args, reply.message, reply.results)
    session = environment.config.session(args.session_id)
    cfg.remove_session(environment.paths.config_file, session.id)
    if args.delete_data:
        async with await open_store(environment) as repo:
            await repo.delete_session_data(session.id)
        device_store = environment.paths.session_db_uri(session)
        if not is_postgres_url(device_store):
            for suffix in ("", "-wal", "-shm"):
                Path(device_store + suffix).unlink(missing_ok=True)
    kept = "its chats were deleted" if args.delete_data else "its chats are kept in the store"
    return _done(args, f"session {session.id} removed; {kept}", {"session_id": session.id})


async def set_default(args: argparse.Namespace, environment: Environment) -> int:
    reply = await _ask_running(environment, "sessions.set_default", {"session": validate_session_id(args.session_id)})
    if reply is not None:
        return _done(args, reply.message, reply.results)
    session = environment.config.session(args.session_id)
    cfg.set_default_session(environment.paths.config_file, session.id)
    return _done(args, f"default session is now {session.id}", {"session_id": session.id})


async def logout_session(args: argparse.Namespace, environment: Environment) -> int:
    session_id = validate_session_id(args.session_id)
    client = await open_standalone(environment, session_id)
    async with client:
        reply = await client.call("sessions.logout", {"session": session_id})
    return _done(args, reply.message, reply.results)


def _done(args: argparse.Namespace, text: str, results: dict) -> int:
    if args.json:
        print_json(seed_response(text, results))
    else:
        say(text)
    return 0
