"""foley synth: write the built-in synthetic narrated egocentric corpus."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ui.commands.common import add_home, log, progress_wanted

HELP = "write the built-in synthetic narrated corpus (videos, narrations, labels, queries)"


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from indexer.synth import write_corpus

    if args.videos < 1 or args.seconds < 5:
        raise ValueError("--videos must be >= 1 and --seconds >= 5")
    started = time.perf_counter()
    summary = write_corpus(
        args.out,
        videos=args.videos,
        seconds=args.seconds,
        seed=args.seed,
        workers=args.workers,
        progress=progress_wanted(),
    )
    log(f"wrote {summary} in {time.perf_counter() - started:.1f} s")
    return 0
