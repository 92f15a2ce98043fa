"""Load on the HTTP service: many concurrent clients against a real `foley serve`.

    python -m benchmarks.load --home H [--clients 50] [--seconds 60] [--out benchmarks/results]

Starts `foley serve` (uvicorn, in a subprocess) on a free port, then ``--clients`` concurrent
httpx clients send a mix of text searches (the home's own narrations) and clip-id searches for
``--seconds``. Prints requests/s, p50/p99 latency per kind and the error count, and writes
``load.json``. Baseline, from the same run: the same query mix answered by the Engine
in-process, one at a time (the service runs engine work one call at a time, so that is its
ceiling; the ratio is what HTTP, JSON and queueing cost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from indexer.catalog import Catalog
from indexer.config import FoleyConfig
from searchd.engine import Engine, Query

KINDS = ("text", "clip")


def workload(home: Path, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """JSON search bodies by kind: the home's narrations as texts, its clip ids as clips."""
    rows = Catalog(FoleyConfig.for_home(home).catalog_url).clips()
    if not rows:
        raise SystemExit(f"{home} has no clips: run `foley build` first")
    texts = sorted({r.narration for r in rows if r.narration}) or ["a sound"]
    rng = random.Random(seed)
    return {
        "text": [{"text": t, "k": 10} for t in texts],
        "clip": [
            {"clip": r.clip_id, "target": rng.choice(["audio", "video"]), "k": 10} for r in rows
        ],
    }


def engine_baseline(home: Path, bodies: dict[str, list[dict]], seconds: float) -> float:
    """Queries per second of the same mix through the Engine in-process, serially."""
    engine = Engine(home)
    engine.search(Query(text="warm up"))
    rng = random.Random(1)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        body = dict(rng.choice(bodies[rng.choice(KINDS)]))
        query = Query(text=body.pop("text", None), clip=body.pop("clip", None))
        engine.search(query, **body)
        done += 1
    return done / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(home: Path, port: int, log_file: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "ui.cli", "serve", "--home", str(home), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "FOLEY_API_KEY"}
    with open(log_file, "w") as log:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"foley serve exited with status {server.returncode}")
        try:
            return httpx.get(f"{url}/health", timeout=2).json()
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"foley serve did not answer {url}/health within {timeout:.0f} s")


async def run_clients(
    url: str, bodies: dict[str, list[dict]], clients: int, seconds: float
) -> dict[str, list[tuple[float, bool]]]:
    """(latency seconds, succeeded) per request, by kind."""
    samples: dict[str, list[tuple[float, bool]]] = {kind: [] for kind in KINDS}
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def client(number: int) -> None:
            rng = random.Random(number)
            while time.perf_counter() < stop_at:
                kind = rng.choice(KINDS)
                started = time.perf_counter()
                try:
                    response = await http.post("/search", json=rng.choice(bodies[kind]))
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                samples[kind].append((time.perf_counter() - started, ok))

        await asyncio.gather(*(client(n) for n in range(clients)))
    return samples


def summarise(samples: dict[str, list[tuple[float, bool]]], seconds: float) -> dict[str, Any]:
    summary: dict[str, Any] = {"kinds": {}}
    everything = [s for kind in KINDS for s in samples[kind]]
    for name, rows in [*samples.items(), ("all", everything)]:
        latency = np.array([t for t, _ in rows]) * 1000 if rows else np.zeros(1)
        entry = {
            "requests": len(rows),
            "requests_per_s": round(len(rows) / seconds, 2),
            "p50_ms": round(float(np.percentile(latency, 50)), 1),
            "p99_ms": round(float(np.percentile(latency, 99)), 1),
            "errors": sum(not ok for _, ok in rows),
        }
        if name == "all":
            summary.update(entry)
        else:
            summary["kinds"][name] = entry
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a built Foley home")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    bodies = workload(args.home)
    baseline_qps = engine_baseline(args.home, bodies, min(args.seconds, 10.0))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = Path(tempfile.mkstemp(prefix="foley-serve-", suffix=".log")[1])
    server = start_server(args.home, port, log_file)
    try:
        health = wait_until_up(url, server)
        started = time.perf_counter()
        samples = asyncio.run(run_clients(url, bodies, args.clients, args.seconds))
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    summary = summarise(samples, elapsed)
    document = {
        "home": str(args.home),
        "model_version": health.get("model_version"),
        "clips": health.get("clips"),
        "clients": args.clients,
        "seconds": round(elapsed, 2),
        **summary,
        "baseline": {
            "name": "Engine in-process, serial, same query mix",
            "queries_per_s": round(baseline_qps, 2),
        },
        "ratio_vs_baseline": round(summary["requests_per_s"] / baseline_qps, 3),
        "server_log": str(log_file),
    }
    (args.out / "load.json").write_text(json.dumps(document, indent=2))
    print(f"{args.clients} clients for {elapsed:.1f} s against {url} ({health.get('clips')} clips)")
    print(f"{'kind':<8}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, entry in [*summary["kinds"].items(), ("all", summary)]:
        print(
            f"{name:<8}{entry['requests']:>10}{entry['requests_per_s']:>10.1f}"
            f"{entry['p50_ms']:>10.1f}{entry['p99_ms']:>10.1f}{entry['errors']:>8}"
        )
    print(
        f"\nbaseline: Engine in-process, serial: {baseline_qps:.1f} queries/s; "
        f"served/baseline = {document['ratio_vs_baseline']:.3f}"
    )
    print(f"wrote {args.out / 'load.json'} (server log {log_file})")


if __name__ == "__main__":
    main()
