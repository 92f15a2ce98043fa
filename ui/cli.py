"""The ``foley`` command: a thin table of verbs; each verb's module parses and prints only."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

# Torch's OpenMP threads spin while they wait by default; where Foley's processes share few
# cores (serve + ui, build's decoders, tests) spinning threads starve each other, 10-40x
# slower. Sleeping waits cost a single busy process little. Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ui.commands import (
    build,
    demo,
    discover,
    evaluate,
    generate,
    locate,
    search,
    serve,
    status,
    synth,
    ui,
)

COMMANDS = {
    "synth": synth,
    "build": build,
    "search": search,
    "discover": discover,
    "locate": locate,
    "generate": generate,
    "eval": evaluate,
    "status": status,
    "demo": demo,
    "serve": serve,
    "ui": ui,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="foley",
        description="Search narrated video by sound, sight and words.",
    )
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.register(verbs.add_parser(name, help=module.HELP, description=module.HELP))
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"foley {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure is one line on stderr, never a traceback
        if os.environ.get("FOLEY_DEBUG"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"foley {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
