"""Build and search speed on a synthetic corpus, each stage beside a baseline from the same run.

    python -m benchmarks.run [--videos 24] [--seconds 60] [--steps N] [--out benchmarks/results]

Writes ``results.json`` and prints a table. Baselines: ingest vs a bare PyAV decode of the same
files; FAISS search vs brute-force numpy over the same vectors; engine text search vs its
narration full-text part alone.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

from indexer.build import build
from indexer.config import FoleyConfig
from indexer.synth import write_corpus
from searchd.engine import Engine, Query


def bare_decode_seconds(videos: list[Path]) -> float:
    """Decode every frame and audio packet with PyAV, no resizing or resampling."""
    started = time.perf_counter()
    for path in videos:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0, audio=0):
                pass
    return time.perf_counter() - started


def timed(fn: Any, repeats: int) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--steps", type=int, help="training steps (default: the config's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="foley-bench-"))
    corpus, home = work / "corpus", work / "home"

    started = time.perf_counter()
    write_corpus(corpus, videos=args.videos, seconds=args.seconds, seed=args.seed, progress=False)
    synth_seconds = time.perf_counter() - started
    videos = sorted((corpus / "videos").glob("*.mp4"))
    decode_seconds = bare_decode_seconds(videos)

    config = FoleyConfig.for_home(home, progress=False)
    started = time.perf_counter()
    report = build(corpus / "videos", corpus / "narrations.json", config, steps=args.steps)
    build_seconds = time.perf_counter() - started
    stages = {t.stage: t for t in report.timings}

    engine = Engine(home)
    keys, audio = engine.store.read(engine.version, "audio")
    queries = audio[:100]
    faiss_s = timed(lambda: engine.store.search("audio", queries, 10), 5) / len(queries)
    brute_s = timed(lambda: np.argsort(-(queries @ audio.T), axis=1)[:, :10], 5) / len(queries)
    texts = ["chopping", "a bird", "metal clanging", "pouring water", "knock"]
    engine.search(Query(text="warm up"))  # loads the sentence encoder outside the timing
    fused_s = timed(lambda: [engine.search(Query(text=t)) for t in texts], 3) / len(texts)
    fts_s = timed(
        lambda: [engine.search(Query(text=t), text_mode="full_text") for t in texts], 3
    ) / len(texts)

    rows = [
        ("synth corpus", synth_seconds, f"{args.videos} x {args.seconds:.0f} s videos", None),
        (
            "ingest",
            stages["ingest"].seconds,
            f"{stages['ingest'].rate:.1f} clips/s",
            decode_seconds / stages["ingest"].seconds,
        ),
        ("train", stages["train"].seconds, f"{stages['train'].rate:.2f} steps/s", None),
        ("embed", stages["embed"].seconds, f"{stages['embed'].rate:.1f} clips/s", None),
        ("index", stages["index"].seconds, f"{stages['index'].rate:.0f} vectors/s", None),
        ("build total", build_seconds, f"{len(keys)} clips", None),
        ("vector search", faiss_s, "s/query", brute_s / faiss_s),
        ("text search (fused)", fused_s, "s/query", fts_s / fused_s),
    ]
    baselines = {
        "ingest": "bare PyAV decode of the same files",
        "vector search": "brute-force numpy ranking",
        "text search (fused)": "narration full-text search alone",
    }
    document = {
        "corpus": {"videos": args.videos, "seconds": args.seconds, "seed": args.seed},
        "clips": len(keys),
        "results": [
            {
                "name": n,
                "seconds": round(s, 6),
                "rate": r,
                "ratio_vs_baseline": None if b is None else round(b, 3),
                "baseline": baselines.get(n),
            }
            for n, s, r, b in rows
        ],
    }
    (args.out / "results.json").write_text(json.dumps(document, indent=2))
    print(f"{'stage':<22}{'seconds':>12}  {'rate':<24}{'baseline/this':>14}  baseline")
    for name, seconds, rate, ratio in rows:
        shown = "" if ratio is None else f"{ratio:.3f}"
        print(f"{name:<22}{seconds:>12.4f}  {rate:<24}{shown:>14}  {baselines.get(name, '')}")
    print(f"\nwrote {args.out / 'results.json'} (work folder {work})")


if __name__ == "__main__":
    main()
