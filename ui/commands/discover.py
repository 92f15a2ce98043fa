"""foley discover: clips ranked by how likely their action makes sound (consensus score)."""

from __future__ import annotations

import argparse

from ui.commands.common import add_home, add_json, print_json, print_results

HELP = "clips ranked by sounding-action (consensus) score, optionally matching --text"


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    add_json(parser)
    parser.add_argument("-k", type=int, default=20)
    parser.add_argument("--text", help="only clips matching this text query")
    parser.add_argument("--where", help="filter on catalog columns")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from searchd.engine import Engine

    results = Engine(args.home).discover(k=args.k, text=args.text, where=args.where)
    rows = [r.to_json() for r in results]
    print_json({"results": rows}) if args.json else print_results(rows)
    return 0
