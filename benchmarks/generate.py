"""AV-LDM generation speed on a built home, beside baselines measured in the same run.

    python -m benchmarks.generate --home H [--steps 25] [--repeats 3] [--out benchmarks/results]

Times a 2 s silent clip end to end (decode, ambient retrieval, 25 DPM-Solver steps with
guidance for each of the candidate samples, choosing the one in time with the picture,
vocoder, crossfade) and its parts; baselines: one sample instead of the best of several,
retrieval only (the nearest clip's real audio, what a user would try first) and the
Griffin-Lim vocoder instead of the learned one. Also reports the generator's recorded
training time. Writes ``generate.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from searchd.engine import Engine
from searchd.generate import Generator


def write_silent_clip(path: Path, seconds: float = 2.0, fps: int = 15) -> Path:
    """A silent clip of moving noise (the content does not change the cost)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(int(seconds * fps)):
            frame = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clip = write_silent_clip(Path(tempfile.mkdtemp(prefix="foley-gen-")) / "silent.mp4")
    engine = Engine(args.home)
    generator = Generator(engine)
    griffin = generator.griffin_lim()
    generator.generate_file(clip, steps=2)  # warm-up: loudness table, first-call costs
    mel = generator.pipeline.config.mel
    log_mel = torch.zeros(1, mel.n_mels, mel.frames)

    rows = {
        "generate 2 s clip (joint)": best_of(
            lambda: generator.generate_file(clip, "joint", steps=args.steps), args.repeats
        ),
        "generate 2 s clip (action)": best_of(
            lambda: generator.generate_file(clip, "action", steps=args.steps), args.repeats
        ),
        "generate 2 s clip (joint, one sample)": best_of(
            lambda: generator.generate_file(clip, "joint", steps=args.steps, candidates=1),
            args.repeats,
        ),
        "retrieval only (baseline)": best_of(
            lambda: generator.ambient_audio(
                generator.ambient_for("joint", *_frames(generator, clip))
            ),
            args.repeats,
        ),
        "learned vocoder, 2 s": best_of(lambda: generator.vocode(log_mel), args.repeats),
        "griffin-lim vocoder, 2 s (baseline)": best_of(
            lambda: generator.vocode(log_mel, griffin), args.repeats
        ),
    }
    record = engine.catalog.current_model("avldm")
    document = {
        "home": str(args.home),
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "candidates": generator.candidate_count(),
        "seconds": {name: round(s, 4) for name, s in rows.items()},
        "ratio_best_of_candidates_vs_one_sample": round(
            rows["generate 2 s clip (joint)"] / rows["generate 2 s clip (joint, one sample)"], 2
        ),
        "ratio_generate_vs_retrieval_only": round(
            rows["generate 2 s clip (joint)"] / rows["retrieval only (baseline)"], 1
        ),
        "ratio_learned_vs_griffin_lim_vocoder": round(
            rows["learned vocoder, 2 s"] / rows["griffin-lim vocoder, 2 s (baseline)"], 3
        ),
        "train_seconds": round(record.train_seconds, 1) if record else None,
    }
    (args.out / "generate.json").write_text(json.dumps(document, indent=2))
    print(f"{'what':<40}{'seconds':>10}")
    for name, seconds in rows.items():
        print(f"{name:<40}{seconds:>10.3f}")
    ratio = document["ratio_best_of_candidates_vs_one_sample"]
    print(f"best of {document['candidates']} samples / one sample: {ratio}x")
    print(f"generation / retrieval only: {document['ratio_generate_vs_retrieval_only']}x")
    print(f"learned / Griffin-Lim vocoder: {document['ratio_learned_vs_griffin_lim_vocoder']}x")
    print(f"AV-LDM training (recorded): {document['train_seconds']} s")
    print(f"wrote {args.out / 'generate.json'}")


def _frames(generator: Generator, clip: Path) -> tuple[np.ndarray, float]:
    from indexer.media import decode

    policy = generator.engine.config.clips
    decoded = decode(clip, fps=policy.cache_fps, size=policy.frame_size, require_audio=False)
    return decoded.frames, decoded.fps


if __name__ == "__main__":
    main()
