"""foley demo: the newcomer's first command — synth a small corpus, build it, search it, then
serve it: `foley serve` in a child process and `foley ui` in this one."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ui.commands.common import add_home, log, print_results, progress_wanted

HELP = "synth a small corpus, build the index (training the models), search it, open the web app"
SEARCHD_START_S = 180.0  # loading the models of a fresh home can take a while


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    parser.add_argument("--out", type=Path, default=Path("demo"), help="corpus folder")
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--no-serve", action="store_true", help="stop after the example searches")
    parser.add_argument("--host", default="127.0.0.1", help="address of the web app and API")
    parser.add_argument("--port", type=int, default=7860, help="web app port")
    parser.add_argument("--api-port", type=int, default=8000, help="searchd (API) port")
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
    if args.no_serve:
        return 0
    serve_demo(home, args.host, args.api_port, args.port)
    return 0


def serve_demo(home: str, host: str, api_port: int, port: int) -> None:
    """`foley serve` in a child process, then the web app here until Ctrl-C stops both."""
    from ui.commands.ui import serve_ui

    api = f"http://{host}:{api_port}"
    log(f"starting searchd on {api} ...")
    serve = [sys.executable, "-m", "ui.cli", "serve", "--home", home]
    searchd = subprocess.Popen([*serve, "--host", host, "--port", str(api_port)])
    # uvicorn re-raises the signal that stopped it: make SIGTERM unwind too, so searchd stops
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        _wait_for_health(searchd, api)
        serve_ui(api, host, port, os.environ.get("FOLEY_API_KEY"))
    finally:
        searchd.terminate()
        searchd.wait(timeout=30)


def _wait_for_health(searchd: subprocess.Popen[bytes], api: str) -> None:
    import httpx

    deadline = time.monotonic() + SEARCHD_START_S
    while time.monotonic() < deadline:
        if searchd.poll() is not None:
            raise RuntimeError(f"foley serve exited with status {searchd.returncode}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"foley serve did not answer at {api} in {SEARCHD_START_S:g} s")
