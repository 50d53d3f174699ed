"""The `watui` command: global options, then a subcommand; `watui` alone starts the TUI."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from watui.cli.parser import build_parser
from watui.domain.errors import WatuiError
from watui.domain.text import printable
from watui.runtime import Options, load_environment


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = Options(
        config=args.config, data_dir=args.data_dir, backend=args.backend, demo=args.demo
    )
    environment = None
    try:
        environment = load_environment(options)
        for note in environment.notes:
            print(note, file=sys.stderr)
        return asyncio.run(args.run(args, environment))
    except WatuiError as error:
        # an error can quote what a stranger wrote (a name, an id typed from a message)
        print(f"watui: {printable(str(error), single_line=True)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if environment is not None:
            environment.cleanup()


def run() -> None:
    sys.exit(main())
