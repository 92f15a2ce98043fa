"""foley demo: the newcomer's first command — synth a small corpus, build it, search it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ui.commands.common import add_home, log, print_results, progress_wanted

HELP = "synth a small corpus, build the index (training the models) and run example searches"


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    parser.add_argument("--out", type=Path, default=Path("demo"), help="corpus folder")
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--steps", type=int, default=600)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from indexer.build import build
    from indexer.config import FoleyConfig
    from indexer.synth import write_corpus
    from searchd.engine import Engine, Query

    home = args.home or str(args.out / "home")
    corpus = args.out / "corpus"
    if not (corpus / "narrations.json").exists():
        log(f"writing a synthetic corpus to {corpus} ...")
        write_corpus(
            corpus, videos=args.videos, seconds=args.seconds, seed=0, progress=progress_wanted()
        )
    log(f"building {home} ...")
    config = FoleyConfig.for_home(home, progress=progress_wanted())
    report = build(corpus / "videos", corpus / "narrations.json", config, steps=args.steps)
    for line in report.summary_lines():
        log(line)
    engine = Engine(home)
    for text in ("chopping", "a bird", "metal"):
        print(f"\n$ foley search --home {home} --text {text!r} -k 5")
        print_results([r.to_json() for r in engine.search(Query(text=text), k=5)])
    print(f"\n$ foley discover --home {home} -k 5")
    print_results([r.to_json() for r in engine.discover(k=5)])
    return 0
