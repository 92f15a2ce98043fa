"""Small pieces every verb shares: --home, JSON output, result tables."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any


def add_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home", default=None, help="Foley home folder (default: $FOLEY_HOME or ./foley-home)"
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def progress_wanted() -> bool:
    """Progress bars only when a person is watching the terminal."""
    return sys.stderr.isatty()


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


def log(message: str) -> None:
    print(message, file=sys.stderr)


def print_results(results: Sequence[dict[str, Any]]) -> None:
    """A readable table of search results on stdout."""
    if not results:
        print("no results")
        return
    print(f"{'#':>3}  {'score':>7}  {'sounding':>8}  {'clip':<22} {'time':>13}  narration")
    for rank, r in enumerate(results, 1):
        span = f"{r['start']:6.2f}-{r['end']:6.2f}"
        sounding = "" if r.get("sounding") is None else f"{r['sounding']:.3f}"
        narration = r.get("narration") or ""
        clip = r["clip_id"]
        print(f"{rank:>3}  {r['score']:7.4f}  {sounding:>8}  {clip:<22} {span:>13}  {narration}")
