"""Clips from the cache as a torch Dataset: what training and embedding read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from indexer.cache import CachedVideo, ClipCache
from indexer.catalog import ClipRow
from indexer.narrations import clean_text
from indexer.speech_activity import HOP_SECONDS, window_track
from models.config import ClipShape


def clip_texts(rows: Sequence[ClipRow]) -> tuple[list[str], torch.Tensor]:
    """Model-ready narration text per clip (``""`` when none) and the has-text mask (N,)."""
    texts = [clean_text(r.narration) if r.narration else "" for r in rows]
    return texts, torch.tensor([bool(t) for t in texts])


class ClipDataset(Dataset):
    """Items ``{"frames", "audio", "text", "has_text", "index", "video"}`` for a list of
    catalog clips (``video``: the clip's video numbered among the list's videos).

    ``prepared_text`` holds one row per clip (the text tower's ``prepare`` output); without
    it (models that read no text) items carry no ``text``/``has_text``.
    ``jitter`` > 0 moves each clip window by up to that many seconds at random (training
    augmentation); 0 reads the exact window (embedding). ``speech_tracks`` (cache key ->
    ``SpeechActivity`` track of the whole video) adds ``speech``: the window's speech
    probabilities, one per detector hop. ``one_frame``: ``frames`` holds one of the window's
    ``shape.frames`` frames, drawn at random, (1, S, S, 3): for models that train on a single
    frame (DenseAV), so that batches carry and augment one frame per clip, not all of them.
    """

    def __init__(
        self,
        rows: Sequence[ClipRow],
        cache: ClipCache,
        shape: ClipShape,
        prepared_text: torch.Tensor | None = None,
        has_text: torch.Tensor | None = None,
        jitter: float = 0.0,
        seed: int = 0,
        speech_tracks: Mapping[str, np.ndarray] | None = None,
        one_frame: bool = False,
    ) -> None:
        self.rows = list(rows)
        numbers: dict[str, int] = {}
        self.video_numbers = [numbers.setdefault(r.video_uid, len(numbers)) for r in self.rows]
        self.cache = cache
        self.shape = shape
        self.prepared_text = prepared_text
        self.has_text = has_text
        self.jitter = jitter
        self.rng = np.random.default_rng(seed)
        self.speech_tracks = speech_tracks
        self.one_frame = one_frame
        self._videos: dict[str, CachedVideo] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def video(self, key: str) -> CachedVideo:
        if key not in self._videos:
            self._videos[key] = self.cache.read(key)
        return self._videos[key]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.rows[index]
        video = self.video(row.cache_key)
        start = row.start
        if self.jitter > 0:
            length = len(video.audio) / video.sample_rate
            shift = self.rng.uniform(-self.jitter, self.jitter)
            start = float(np.clip(start + shift, 0.0, max(length - self.shape.seconds, 0.0)))
        end = start + self.shape.seconds
        frames = video.clip_frames(start, end, self.shape.frames)  # (F, S, S, 3) uint8
        if self.one_frame:
            pick = int(self.rng.integers(len(frames)))
            frames = frames[pick : pick + 1]
        audio = video.clip_audio(start, end)  # (N,) float32
        item = {
            "frames": torch.from_numpy(frames),
            "audio": torch.from_numpy(audio),
            "index": torch.tensor(index),
            "video": torch.tensor(self.video_numbers[index]),
        }
        if self.prepared_text is not None and self.has_text is not None:
            item["text"], item["has_text"] = self.prepared_text[index], self.has_text[index]
        if self.speech_tracks is not None:
            hops = int(round(self.shape.seconds / HOP_SECONDS))
            track = self.speech_tracks[row.cache_key]
            item["speech"] = torch.from_numpy(window_track(track, start, self.shape.seconds, hops))
        return item
