"""`watui db status` and `watui db upgrade`."""

from __future__ import annotations

import argparse

from watui.cli.output import print_fields, print_json, print_table, say, seed_response
from watui.runtime import Environment, open_store
from watui.store import ChatStorageRepository


def register(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="the chat store: status and upgrade")
    sub = db.add_subparsers(title="actions", metavar="ACTION", required=True)
    status = sub.add_parser("status", help="schema version, integrity and rows per session")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=db_status)
    upgrade = sub.add_parser("upgrade", help="migrate the store to this version of watui")
    upgrade.add_argument("--json", action="store_true")
    upgrade.set_defaults(run=db_upgrade)


async def db_status(args: argparse.Namespace, environment: Environment) -> int:
    # migrate=False: looking must never change the file
    async with await open_store(environment, migrate=False) as repo:
        version = await repo.schema_version()
        problems = await repo.integrity_check()
        counts = await repo.row_counts()
    path = str(environment.paths.store_path)
    result = {
        "path": path,
        "schema_version": version,
        "latest_version": ChatStorageRepository.latest_version,
        "integrity": "ok" if not problems else problems,
        "sessions": {sid: {"chats": c, "messages": m} for sid, (c, m) in sorted(counts.items())},
    }
    if args.json:
        print_json(seed_response("Store status retrieved successfully", result))
    else:
        print_fields([
            ("store", path),
            ("schema", f"v{version} (latest v{ChatStorageRepository.latest_version})"),
            ("integrity", "ok" if not problems else f"{len(problems)} problem(s)"),
        ])
        for problem in problems:
            say(f"  {problem}")
        if counts:
            print_table(["SESSION", "CHATS", "MESSAGES"],
                        [[sid, c, m] for sid, (c, m) in sorted(counts.items())])
    return 0 if not problems else 1


async def db_upgrade(args: argparse.Namespace, environment: Environment) -> int:
    async with await open_store(environment, migrate=True) as repo:
        version = await repo.schema_version()
    text = f"store {environment.paths.store_path} is at schema v{version}"
    if args.json:
        print_json(seed_response(text, {"schema_version": version}))
    else:
        say(text)
    return 0
