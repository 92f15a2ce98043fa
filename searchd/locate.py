"""``foley locate`` and ``POST /locate``: heat maps for an indexed clip or for given files.

``Locator(config)`` loads the home's current DenseAV model once. A clip is located on its
own audio and a frame from the middle of the clip (from the source video when it is still
there, else from the clip cache); files are located on a clip-length window of the audio
(the strongest one unless ``at`` is given) and the video frame (or still image) there.
A ``span`` (seconds of the video's time, e.g. a spoken word's) keeps the maps to that
moment: the window is centred on it (unless ``at`` says otherwise) and the frame is taken
at its middle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from indexer.cache import CachedVideo, ClipCache
from indexer.catalog import Catalog, ClipRow, ModelVersion
from indexer.config import FoleyConfig
from indexer.media import MediaError, read_audio, read_frame
from models.checkpoint import load_model
from models.denseav import DenseAV
from searchd.localize import Localization, Localizer

HEAD_NAMES_FILE = "heads.json"  # {"names": [...]} next to a DenseAV checkpoint (README)


class LocateError(ValueError):
    """A locate request that cannot be answered, with a one-line reason."""


@dataclass
class Located:
    localization: Localization
    source: dict[str, Any]  # what was located: clip id or files, and the time window

    def to_json(self) -> dict[str, Any]:
        return {**self.source, **self.localization.to_json()}


def head_names(model_dir: Path, model: DenseAV) -> list[str]:
    """The heads' names: those in ``heads.json`` next to the checkpoint if it names every
    head, else those of the model's speech gate ("sound", "speech"), else "head N"."""
    heads = model.config.heads
    path = Path(model_dir) / HEAD_NAMES_FILE
    if path.exists():
        names = json.loads(path.read_text())["names"]
        if len(names) == heads:
            return names
    return model.head_names() or [f"head {i}" for i in range(heads)]


def load_denseav(catalog: Catalog) -> tuple[DenseAV, ModelVersion] | None:
    """The catalog's current DenseAV model and its record, or None when it has none."""
    record = catalog.current_model("denseav")
    if record is None:
        return None
    model: DenseAV = load_model(Path(record.path))
    return model.eval(), record


def clip_sound(cached: CachedVideo, row: ClipRow, seconds: float) -> np.ndarray:
    """An indexed clip's sound: ``seconds`` of audio from its start (N,) float32."""
    return cached.clip_audio(row.start, row.start + seconds)


def cached_frame(cached: CachedVideo, time: float) -> np.ndarray:
    """The frame at ``time`` (s) as the clip cache holds it: (S, S, 3) uint8."""
    return cached.clip_frames(time, time + 1e-3, 1)[0]


def check_span(span: tuple[float, float], start: float, end: float, within: str) -> None:
    """A LocateError unless ``span`` is a stretch of [start, end] (``within``: what that is)."""
    first, last = span
    if not start - 1e-6 <= first < last <= end + 1e-6:
        raise LocateError(
            f"span {first:g}-{last:g} s is not a stretch of {within} ({start:.2f}-{end:.2f} s)"
        )


class Locator:
    def __init__(self, config: FoleyConfig) -> None:
        self.config = config
        if not config.home.is_dir():
            raise LocateError(f"no Foley home at {config.home}: run `foley build` first")
        self.catalog = Catalog(config.catalog_url)
        loaded = load_denseav(self.catalog)
        if loaded is None:
            raise LocateError(
                f"no DenseAV model in {config.home}: run `foley build` (or --models denseav)"
            )
        model, record = loaded
        self.version = record.version
        self.localizer = Localizer(model, head_names(Path(record.path), model))
        self.shape = model.config.clip

    def locate_clip(self, clip_id: str, span: tuple[float, float] | None = None) -> Located:
        """An indexed clip: its audio, and its middle frame (or the ``span``'s, a stretch of
        the clip in its video's time)."""
        row = self.catalog.clip_by_id(clip_id)
        if row is None:
            raise LocateError(f"no clip {clip_id!r} in this home")
        seconds = self.shape.seconds
        if span is not None:
            check_span(span, row.start, row.start + seconds, f"clip {clip_id}")
        cached = ClipCache(self.config.cache_dir).read(row.cache_key)
        wave = clip_sound(cached, row, seconds)
        moment = (row.start + row.end) / 2 if span is None else sum(span) / 2
        try:
            frame = read_frame(Path(row.video), moment)
        except MediaError:  # the source moved or went away: the cache still has the clip
            frame = cached_frame(cached, moment)
        source = {"clip_id": clip_id, "video": row.video, "start": row.start, "end": row.end}
        within = None if span is None else (span[0] - row.start, span[1] - row.start)
        return Located(self.localizer.locate(wave, frame, within), source)

    def locate_files(
        self,
        video: Path,
        audio: Path | None = None,
        at: float | None = None,
        span: tuple[float, float] | None = None,
    ) -> Located:
        """A video (or still image) file, with its own sound or the sound of ``audio``;
        ``at``: the window's start; ``span``: the moment to locate (see the module doc)."""
        sr, seconds = self.shape.sample_rate, self.shape.seconds
        try:
            wave = read_audio(Path(audio or video), sr)
        except MediaError as e:
            if audio is None and str(e) == "no audio track":
                raise LocateError(f"{video}: no audio track; give the sound with --audio") from e
            if audio is None and str(e).startswith("not a media file"):
                raise LocateError(f"{video}: {e}") from e
            raise LocateError(f"{audio or video}: {e}") from e
        duration = len(wave) / sr
        if span is not None:
            check_span(span, 0.0, duration, "the audio")
        if at is None and span is not None:  # the window centred on the span, in the audio
            at = min(max(0.0, sum(span) / 2 - seconds / 2), max(0.0, duration - seconds))
        elif at is None:
            at = self._strongest_window(wave, Path(video))
        elif not 0 <= at < max(duration, 1e-3):
            raise LocateError(f"window start {at:g} s is outside the audio (0-{duration:.2f} s)")
        if span is not None:
            check_span(span, at, min(at + seconds, duration), "the window")
        moment = at + min(seconds, duration) / 2 if span is None else sum(span) / 2
        try:
            frame = read_frame(Path(video), moment)
        except MediaError as e:
            raise LocateError(f"{video}: {e}") from e
        window = wave[int(at * sr) : int(at * sr) + self.shape.audio_samples]
        padded = len(window) < self.shape.audio_samples
        source = {
            "video": str(video),
            "audio": str(audio) if audio else None,
            "start": round(at, 3),
            "end": round(at + len(window) / sr, 3),
            "padded": padded,
        }
        if span is not None:
            within = (span[0] - at, span[1] - at)
        else:  # a sound shorter than a clip is padded with silence: the maps keep to the sound
            within = (0.0, len(window) / sr) if padded else None
        return Located(self.localizer.locate(window, frame, within), source)

    @torch.no_grad()
    def _strongest_window(self, wave: np.ndarray, video: Path) -> float:
        """The start of the half-overlapping clip window whose sound matches its frame best."""
        sr, seconds = self.shape.sample_rate, self.shape.seconds
        duration = len(wave) / sr
        if duration <= seconds:
            return 0.0
        starts = np.arange(0.0, duration - seconds + 1e-6, seconds / 2)
        best, best_score = 0.0, -np.inf
        for start in starts:
            try:
                frame = read_frame(video, start + seconds / 2)
            except MediaError as e:
                raise LocateError(f"{video}: {e}") from e
            window = wave[int(start * sr) : int(start * sr) + self.shape.audio_samples]
            score = self.localizer.locate(window, frame).strongest.activation
            if score > best_score:
                best, best_score = float(start), score
        return best
