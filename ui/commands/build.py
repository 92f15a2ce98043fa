"""foley build: ingest videos, train the models if needed, embed every clip, index."""

from __future__ import annotations

import argparse
from pathlib import Path

from ui.commands.common import add_home, add_json, log, print_json, progress_wanted

HELP = "ingest videos, train models (first time or --train), embed and index; resumable"


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    add_json(parser)
    parser.add_argument("videos", type=Path, help="folder of videos (or one video file)")
    parser.add_argument("--narrations", type=Path, help="Ego4D JSON or EPIC-KITCHENS CSV")
    parser.add_argument(
        "--train",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train a model (default: only when none exists yet)",
    )
    parser.add_argument("--steps", type=int, help="training steps (default from the config)")
    parser.add_argument("--model", default="mc3-small", help="MC3 config name or JSON path")
    parser.add_argument(
        "--models",
        default="mc3,denseav,avldm",
        help="comma-separated model kinds to train when missing (or all with --train): "
        "mc3 (search), denseav (localisation), avldm (generation); default: all three",
    )
    parser.add_argument("--workers", type=int, default=2, help="decoding processes")
    parser.add_argument(
        "--device",
        default="auto",
        help="where to train: auto (a CUDA GPU when present, else CPU), cpu, cuda or cuda:N; "
        "on a GPU, AV-LDM's denoiser trains longer (see GeneratorTrainConfig)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from indexer.build import build
    from indexer.config import FoleyConfig

    config = FoleyConfig.for_home(
        args.home, model=args.model, device=args.device, progress=progress_wanted()
    )
    if args.narrations is not None and not args.narrations.exists():
        raise FileNotFoundError(f"no such narrations file: {args.narrations}")
    report = build(
        args.videos,
        args.narrations,
        config,
        train=args.train,
        steps=args.steps,
        workers=args.workers,
        models=tuple(kind.strip() for kind in args.models.split(",") if kind.strip()),
    )
    if args.json:
        print_json(report.to_json())
    else:
        for line in report.summary_lines():
            log(line)
    return 0
