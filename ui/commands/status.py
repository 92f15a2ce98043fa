"""foley status: what the home holds."""

from __future__ import annotations

import argparse

from ui.commands.common import add_home, add_json, print_json

HELP = "what the home holds: videos, clips, vectors, models, index, errors"


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    add_json(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from indexer.build import home_status
    from indexer.config import FoleyConfig

    status = home_status(FoleyConfig.for_home(args.home))
    if args.json:
        print_json(status)
        return 0
    print(f"home     {status['home']}")
    print(f"videos   {status['videos']}")
    print(f"clips    {status['clips']}")
    vectors = ", ".join(f"{m}: {n}" for m, n in status["vectors"].items()) or "none"
    print(f"vectors  {vectors}")
    for model in status["models"]:
        mark = "*" if model["current"] else " "
        print(f"model  {mark} {model['name']} {model['version']} ({model['steps']} steps)")
    index = status["index"]
    parts = [f"{m} {v['count']} ({v['kind']})" for m, v in index.get("modalities", {}).items()]
    print(f"index    {index.get('model_version', 'none')}: {', '.join(parts) or 'not built'}")
    for error in status["errors"]:
        print(f"error    {error['path']}: {error['error']}")
    return 0
