"""Write the synthetic corpus: videos/*.mp4, narrations.json, labels.json, queries.json.

One worker process per video (plan -> frames + soundtrack -> mp4 + its labels); the parent
gathers the labels in video order and writes the three JSON files atomically.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from .catalogue import QUERIES, check_queries
from .picture import FPS, HEIGHT, WIDTH, render_frames
from .sound import SR
from .soundtrack import SpokenWord, soundtrack
from .speech import speech_engine
from .timeline import Event, VideoPlan, plan_video

AUDIO_CHUNK = 1024  # samples per AAC frame


@dataclass(frozen=True)
class CorpusSummary:
    out: Path
    videos: int
    labels: int
    narrations: int
    queries: int


def write_corpus(
    out: Path,
    videos: int = 24,
    seconds: float = 60.0,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
) -> CorpusSummary:
    """Write ``videos`` synthetic narrated egocentric videos of ``seconds`` each under ``out``.

    Labels, narrations and queries depend only on ``seed`` (the mp4 bytes may differ).
    """
    if videos < 1 or seconds < 3:
        raise ValueError("need at least 1 video of at least 3 seconds")
    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    jobs = [(out, seed, i, float(seconds)) for i in range(videos)]
    results = tqdm(
        _run(jobs, workers),
        total=videos,
        disable=not progress,
        file=sys.stderr,
        unit="video",
        desc="synth",
    )
    narrations: dict[str, dict] = {}
    clips: list[dict] = []
    for uid, video_narrations, video_clips in results:
        narrations[uid] = {"narration_pass_1": {"narrations": video_narrations}}
        clips.extend(video_clips)
    texts = [
        n["narration_text"]
        for v in narrations.values()
        for n in v["narration_pass_1"]["narrations"]
    ]
    check_queries(texts)
    queries = [{"text": text, "actions": list(actions)} for text, actions in QUERIES]
    _write_json(out / "narrations.json", narrations)
    _write_json(
        out / "labels.json",
        {
            "frame_size": [WIDTH, HEIGHT],
            "fps": FPS,
            "sample_rate": SR,
            "speech_engine": speech_engine(),
            "clips": clips,
        },
        compact=True,
    )
    _write_json(out / "queries.json", {"queries": queries})
    return CorpusSummary(out, videos, len(clips), len(texts), len(queries))


def _run(jobs: list[tuple], workers: int) -> Iterator[tuple[str, list, list]]:
    if workers <= 1 or len(jobs) == 1:
        yield from map(_make_video, jobs)
        return
    with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
        yield from pool.map(_make_video, jobs)


def _make_video(job: tuple[Path, int, int, float]) -> tuple[str, list, list]:
    """Render, mux and label one video; returns (uid, its narrations, its label clips)."""
    out, seed, index, seconds = job
    plan = plan_video(seed, index, seconds)
    audio, words = soundtrack(plan)
    boxes: dict[int, dict[str, list[int]]] = {}
    path = out / "videos" / f"{plan.uid}.mp4"
    tmp = path.with_name(f".{path.stem}.tmp.mp4")

    def frames():
        for k, (frame, event, box) in enumerate(render_frames(plan)):
            if event is not None and box is not None:
                boxes.setdefault(event, {})[f"{k / FPS:.3f}"] = [int(v) for v in box]
            yield frame

    _write_mp4(tmp, frames(), audio)
    os.replace(tmp, path)
    return plan.uid, _narrations(plan), _labels(plan, boxes, words)


def _write_mp4(path: Path, frames: Iterator[np.ndarray], audio: np.ndarray) -> None:
    """H.264 (crf 28, real artefacts) + AAC mono, interleaved one second at a time."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"crf": "28", "preset": "veryfast", "threads": "1"}
        sound = container.add_stream("aac", rate=SR, layout="mono")
        sent = 0
        for k, frame in enumerate(frames):
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            due = min(len(audio), int((k + 1) * SR / FPS))
            while sent + AUDIO_CHUNK <= due:
                sent = _mux_audio(container, sound, audio, sent)
        while sent < len(audio):
            sent = _mux_audio(container, sound, audio, sent)
        container.mux(video.encode())
        container.mux(sound.encode())


def _mux_audio(container, stream, audio: np.ndarray, start: int) -> int:
    chunk = audio[start : start + AUDIO_CHUNK]
    frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
    frame.rate, frame.pts, frame.time_base = SR, start, Fraction(1, SR)
    container.mux(stream.encode(frame))
    return start + len(chunk)


def _narrations(plan: VideoPlan) -> list[dict]:
    said = [e for e in plan.events if e.narration is not None]
    return [
        {"timestamp_sec": e.narration_time, "narration_text": e.narration}
        for e in sorted(said, key=lambda e: e.narration_time)
    ]


def _labels(plan: VideoPlan, boxes: dict[int, dict], words: list[SpokenWord]) -> list[dict]:
    clips = []
    for i, event in enumerate(plan.events):
        clips.append(
            {
                "video": f"videos/{plan.uid}.mp4",
                "start": event.start,
                "end": event.end,
                "action": event.action,
                "sounding": event.sounding,
                "scene": plan.scene,
                "narration": event.narration,
                "offscreen": event.offscreen,
                "speech": [
                    {"word": w.word, "start": w.start, "end": w.end} for w in words if w.event == i
                ],
                "boxes": boxes.get(i, {}),
                "onsets": _onsets(event),
            }
        )
    return clips


def _onsets(event: Event) -> list[float]:
    """Seconds in the video at which the visible action's sound starts (none when silent)."""
    if not event.sounding or event.visible is None:
        return []
    starts = event.visible.motion.sound_starts()
    return sorted({round(event.start + t, 3) for t in starts})


def _write_json(path: Path, data, compact: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=1)
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
