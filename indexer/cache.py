"""The clip cache: every video decoded once into small frames + 16 kHz mono audio.

Training, embedding and the other models read clips from here, never from the media file.
A video's cache is one folder (``frames.npy`` uint8 (T, S, S, 3), ``audio.npy`` int16 (N,),
``meta.json``) written under a temporary name and renamed into place, so a crash never
leaves a half-written entry. Arrays derived from a video (its speech-activity track) are
kept in its folder too, so they go when the video is re-ingested.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def frames_between(
    frames: np.ndarray, fps: float, start: float, end: float, count: int
) -> np.ndarray:
    """``count`` of ``frames`` (T, ...) at ``fps``, evenly spaced over [start, end); before
    the first or past the last frame the nearest one is held."""
    times = start + (np.arange(count) + 0.5) * (end - start) / count
    index = np.clip(np.floor(times * fps).astype(int), 0, len(frames) - 1)
    return np.asarray(frames[index])


@dataclass(frozen=True)
class CachedVideo:
    frames: np.ndarray  # (T, S, S, 3) uint8, memory-mapped
    fps: float
    audio: np.ndarray  # (N,) int16, memory-mapped
    sample_rate: int

    def clip_frames(self, start: float, end: float, count: int) -> np.ndarray:
        """``count`` frames evenly spaced over [start, end) -> (count, S, S, 3) uint8."""
        return frames_between(self.frames, self.fps, start, end, count)

    def clip_audio(self, start: float, end: float) -> np.ndarray:
        """Audio of [start, end) as float32 in [-1, 1], zero-padded to the exact length."""
        n = int(round((end - start) * self.sample_rate))
        first = int(round(start * self.sample_rate))
        piece = np.asarray(self.audio[max(first, 0) : max(first, 0) + n], dtype=np.float32)
        out = np.zeros(n, dtype=np.float32)
        out[: len(piece)] = piece / 32768.0
        return out


def cache_key(video_uid: str, path: str) -> str:
    """A cache folder name unique per ingested file."""
    return f"{video_uid}-{hashlib.sha1(path.encode()).hexdigest()[:10]}"


class ClipCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def has(self, key: str) -> bool:
        return (self.root / key / "meta.json").exists()

    def write(
        self, key: str, frames: np.ndarray, fps: float, audio: np.ndarray, sample_rate: int
    ) -> None:
        """Store one decoded video atomically (audio given as float in [-1, 1])."""
        final = self.root / key
        tmp = self.root / f".{key}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "frames.npy", np.ascontiguousarray(frames, dtype=np.uint8))
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
        np.save(tmp / "audio.npy", pcm)
        meta = {"fps": fps, "sample_rate": sample_rate, "frames": len(frames)}
        (tmp / "meta.json").write_text(json.dumps(meta))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)

    def read(self, key: str) -> CachedVideo:
        folder = self.root / key
        meta = json.loads((folder / "meta.json").read_text())
        return CachedVideo(
            frames=np.load(folder / "frames.npy", mmap_mode="r"),
            fps=float(meta["fps"]),
            audio=np.load(folder / "audio.npy", mmap_mode="r"),
            sample_rate=int(meta["sample_rate"]),
        )

    def derived(
        self, key: str, name: str, compute: Callable[[CachedVideo], np.ndarray]
    ) -> np.ndarray:
        """``compute(video)`` for the cached video ``key``, worked out once and kept as
        ``<name>.npy`` in its folder (written atomically)."""
        path = self.root / key / f"{name}.npy"
        if path.exists():
            return np.load(path)
        value = np.asarray(compute(self.read(key)))
        tmp = path.with_name(f".{name}.tmp-{os.getpid()}.npy")
        np.save(tmp, value)
        os.replace(tmp, path)
        return value

    def remove_orphans(self, keep: set[str]) -> None:
        """Drop temporary leftovers of interrupted writes and entries no video refers to."""
        for entry in self.root.iterdir():
            if entry.name.startswith(".") or entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
