"""foley eval: retrieval, discovery, localisation and generation figures with baselines."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ui.commands.common import add_home, add_json, print_json

HELP = "evaluate an indexed synthetic corpus against its labels.json, with baselines"


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    add_json(parser)
    parser.add_argument("--labels", required=True, type=Path, help="labels.json from foley synth")
    parser.add_argument(
        "--ablations", action="store_true", help="train missing ablation models (pairwise, ...)"
    )
    parser.add_argument("--steps", type=int, help="training steps for ablation models")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from searchd.evaluate import evaluate

    if not args.labels.is_file():
        raise FileNotFoundError(f"no such labels file: {args.labels}")
    report = evaluate(args.home, args.labels, ablations=args.ablations, steps=args.steps)
    if args.json:
        print_json(report)
    else:
        print_table(report)
    return 0


def print_table(report: dict[str, Any]) -> None:
    """Each figure beside the baselines measured in the same run."""
    baselines = {k: v for k, v in report["baselines"].items() if v}
    names = ["foley", *baselines]
    print(f"{'metric':<28}" + "".join(f"{n:>15}" for n in names))
    for task in report["retrieval"]:
        for metric in ("mAP", "R@1", "R@5", "R@10"):
            values = [report["retrieval"][task].get(metric)]
            values += [b.get("retrieval", {}).get(task, {}).get(metric) for b in baselines.values()]
            print(f"{task + ' ' + metric:<28}" + "".join(_cell(v) for v in values))
    values = [report["discovery"]["AP"]]
    values += [(b.get("discovery") or {}).get("AP") for b in baselines.values()]
    print(f"{'discovery AP':<28}" + "".join(_cell(v) for v in values))
    for kind in ("sound", "speech"):
        for metric in ("mIoU", "AP"):
            values = [(report["localization"].get(kind) or {}).get(metric)]
            values += [
                ((b.get("localization") or {}).get(kind) or {}).get(metric)
                for b in baselines.values()
            ]
            print(f"{'locate ' + kind + ' ' + metric:<28}" + "".join(_cell(v) for v in values))
    agreement = report["localization"].get("speech_head_agreement")
    print(f"{'speech-head agreement':<28}" + _cell(agreement))
    for metric in ("class_accuracy", "frechet", "ambient_match", "onset_sync"):
        values = [report["generation"].get(metric)]
        values += [(b.get("generation") or {}).get(metric) for b in baselines.values()]
        print(f"{'generate ' + metric:<28}" + "".join(_cell(v) for v in values))
    meta = report["meta"]
    print(
        f"\nmodel {meta['model_version']}, {meta['gallery_clips']} clips "
        f"({meta['labelled_clips']} labelled), {meta['seconds']} s"
    )


def _cell(value: float | None) -> str:
    return f"{'-':>15}" if value is None else f"{value:>15.3f}"
