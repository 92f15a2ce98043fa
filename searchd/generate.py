"""Soundtracks for silent video with AV-LDM: ambient retrieval, windows, crossfade.

``Generator`` holds the home's current AV-LDM pipeline, the MC3 model whose per-frame video
features condition it, and a search ``Engine`` for retrieving the ambient clip:

- ``joint``: the ambient of a similar scene: among the clips whose audio is nearest the
  video (MC3 video->audio similarity), the one least likely to be a sounding action (lowest
  consensus score), so it carries the place's background and not someone else's action;
- ``action``: the quietest indexed clip, so only the action sounds;
- an explicit clip id overrides both.

A video of any length is cut into 2 s windows overlapping by ``crossfade`` seconds; all
windows are denoised in batches and crossfaded into one waveform as long as the video. With
an onset predictor in the pipeline, each window is the best of ``sampling.candidates``
samples: the one whose onsets agree best with those the predictor expects from the frames.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from indexer.cache import ClipCache, frames_between
from indexer.catalog import ClipRow
from indexer.media import decode
from indexer.onsets import onset_agreement, onset_times
from models.avldm.conditioning import video_condition
from models.avldm.pipeline import AVLDMPipeline
from models.avldm.vocoder import build_vocoder
from models.checkpoint import load_model
from models.mc3 import MC3
from searchd.engine import Engine, QueryError

Mode = Literal["joint", "action"]
MODES: tuple[str, ...] = ("joint", "action")
JOINT_CANDIDATES = 20  # nearest clips by video->audio similarity considered as the ambient
WINDOW_BATCH = 16  # windows denoised together
MIN_DB = -120.0


class GenerationUnavailable(LookupError):
    """The home has no AV-LDM model (or not the MC3 it was trained with)."""


@dataclass(frozen=True)
class AmbientChoice:
    clip_id: str
    video: str
    start: float
    end: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Soundtrack:
    wave: np.ndarray  # (N,) float32 in [-1, 1], as long as the video
    sample_rate: int
    duration: float
    mode: str
    ambient: AmbientChoice | None
    windows: int
    steps: int
    guidance: float
    seed: int
    candidates: int  # samples drawn per window, the one most in time with the picture kept
    seconds: float  # wall time of the generation

    def to_json(self) -> dict[str, Any]:
        return {
            "duration": round(self.duration, 3),
            "sample_rate": self.sample_rate,
            "mode": self.mode,
            "ambient": self.ambient.to_json() if self.ambient else None,
            "windows": self.windows,
            "steps": self.steps,
            "guidance": self.guidance,
            "seed": self.seed,
            "candidates": self.candidates,
            "seconds": round(self.seconds, 2),
        }


def window_starts(duration: float, window: float, crossfade: float) -> list[float]:
    """Starts of ``window``-second windows covering ``duration``, ``crossfade`` overlapping
    (the last one ends at the video's end)."""
    if duration <= window:
        return [0.0]
    hop = window - crossfade
    count = int(np.ceil((duration - window) / hop)) + 1
    return [min(i * hop, duration - window) for i in range(count)]


def crossfade(pieces: np.ndarray, starts: list[float], rate: int, total: int) -> np.ndarray:
    """Overlap-add windows (W, n) placed at ``starts`` seconds, with linear fades where
    neighbours overlap; -> (total,)."""
    n = pieces.shape[1]
    out, weight = np.zeros(total + n), np.zeros(total + n)
    offsets = [int(round(s * rate)) for s in starts]
    for i, (piece, at) in enumerate(zip(pieces, offsets, strict=True)):
        ramp = np.ones(n)
        if i > 0:
            fade = max(offsets[i - 1] + n - at, 1)
            ramp[:fade] = np.minimum(ramp[:fade], (np.arange(fade) + 0.5) / fade)
        if i + 1 < len(offsets):
            fade = max(at + n - offsets[i + 1], 1)
            ramp[n - fade :] = np.minimum(ramp[n - fade :], (np.arange(fade)[::-1] + 0.5) / fade)
        out[at : at + n] += piece * ramp
        weight[at : at + n] += ramp
    return (out / np.maximum(weight, 1e-8))[:total].astype(np.float32)


class Generator:
    """Load once, generate many (see module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        catalog = engine.catalog
        record = catalog.current_model("avldm")
        if record is None:
            raise GenerationUnavailable(
                f"no AV-LDM model in {engine.config.home}: run `foley build --models avldm`"
            )
        self.version = record.version
        self.pipeline = AVLDMPipeline.from_pretrained(record.path)
        video_model = self.pipeline.info.get("video_model")
        mc3 = catalog.model_version(video_model) if video_model else None
        if mc3 is None:
            raise GenerationUnavailable(
                f"the MC3 model {video_model} AV-LDM was trained with is gone"
            )
        self.video_model: MC3 = load_model(Path(mc3.path))
        self.cache = ClipCache(engine.config.cache_dir)
        self._loudness: dict[int, float] | None = None

    @property
    def sample_rate(self) -> int:
        return self.pipeline.config.mel.sample_rate

    # --- ambient retrieval ----------------------------------------------------------
    def ambient_for(
        self,
        mode: str,
        frames: np.ndarray | None = None,
        fps: float = 8.0,
        clip_id: str | None = None,
        exclude_videos: set[str] | frozenset[str] = frozenset(),
    ) -> AmbientChoice:
        """The ambient clip for ``mode`` (``clip_id`` overrides); ``frames`` (T, S, S, 3) at
        ``fps`` are the video being scored (joint mode needs them)."""
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
        if clip_id is not None:
            row = self.engine.catalog.clip_by_id(clip_id)
            if row is None:
                raise QueryError(f"no clip {clip_id!r} in this home (--ambient)")
            return _choice(row, "given")
        rows = {r.key: r for r in self.engine.catalog.clips() if r.video_uid not in exclude_videos}
        if not rows:
            raise QueryError("the index holds no clip to take the ambient from")
        if mode == "action":
            loudness = self._clip_loudness()
            key = min(rows, key=lambda k: loudness.get(k, 0.0))
            return _choice(rows[key], f"action: quietest clip ({loudness[key]:.0f} dBFS)")
        if frames is None:
            raise QueryError("joint mode needs the video's frames")
        hits = self.sound_fits(frames, fps, rows)
        consensus = self.engine.consensus_scores()
        key = min(hits, key=lambda k: consensus.get(k, 0.0))
        return _choice(
            rows[key],
            f"joint: least action-like of the {len(hits)} clips whose sound best fits the scene",
        )

    def sound_fits(self, frames: np.ndarray, fps: float, rows: dict[int, ClipRow]) -> list[int]:
        """Keys of the ``JOINT_CANDIDATES`` clips among ``rows`` whose audio best fits the
        frames (MC3 video->audio similarity), best first."""
        query = self.video_query(frames, fps)
        allowed = np.array(sorted(rows), dtype=np.int64)
        hits = self.engine.store.search("audio", query[None], JOINT_CANDIDATES, allowed)[0]
        return [key for key, _ in hits]

    def video_query(self, frames: np.ndarray, fps: float) -> np.ndarray:
        """(D,) the index model's video embedding of the frames (mean over 2 s windows)."""
        model = self.engine.model
        shape = model.config.clip
        duration = len(frames) / fps
        starts = window_starts(duration, shape.seconds, shape.seconds / 2)
        batch = np.stack(
            [frames_between(frames, fps, s, s + shape.seconds, shape.frames) for s in starts]
        )
        with torch.no_grad():
            mean = model.encode_video(torch.from_numpy(batch)).mean(dim=0)
        return (mean / mean.norm().clamp_min(1e-8)).numpy().astype(np.float32)

    def _clip_loudness(self) -> dict[int, float]:
        """Every clip's RMS level in dBFS (computed once from the clip cache)."""
        if self._loudness is None:
            loudness = {}
            for row in self.engine.catalog.clips():
                audio = self.cache.read(row.cache_key).clip_audio(row.start, row.end)
                rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12)
                loudness[row.key] = max(20 * np.log10(rms), MIN_DB)
            self._loudness = loudness
        return self._loudness

    def ambient_audio(self, choice: AmbientChoice) -> np.ndarray:
        """The ambient clip's audio, one generation window long."""
        row = self.engine.catalog.clip_by_id(choice.clip_id)
        if row is None:
            raise QueryError(f"no clip {choice.clip_id!r} in this home")
        seconds = self.pipeline.config.mel.seconds
        return self.cache.read(row.cache_key).clip_audio(row.start, row.start + seconds)

    # --- generation -----------------------------------------------------------------
    def generate_frames(
        self,
        frames: np.ndarray,
        fps: float,
        duration: float,
        ambient: AmbientChoice | None,
        mode: str = "joint",
        steps: int | None = None,
        guidance: float | None = None,
        seed: int = 0,
        candidates: int | None = None,
    ) -> Soundtrack:
        """A soundtrack ``duration`` seconds long for frames (T, S, S, 3) at ``fps``;
        ``ambient=None`` generates without an ambient condition; ``candidates`` samples per
        window (default ``sampling.candidates``; see ``render``)."""
        started = time.perf_counter()
        mel = self.pipeline.config.mel
        sampling = self.pipeline.config.sampling
        steps = sampling.steps if steps is None else steps
        guidance = sampling.guidance if guidance is None else guidance
        if steps < 1:
            raise QueryError("steps must be at least 1")
        candidates = self.candidate_count(candidates)
        starts = window_starts(duration, mel.seconds, sampling.crossfade)
        n_frames = self.pipeline.config.denoiser.video_frames
        windows = np.stack(
            [frames_between(frames, fps, s, s + mel.seconds, n_frames) for s in starts]
        )
        ambient_wave = None
        if ambient is not None:
            ambient_wave = np.repeat(self.ambient_audio(ambient)[None], len(windows), axis=0)
        _, pieces = self.render(windows, ambient_wave, steps, guidance, seed, candidates)
        total = max(1, int(round(duration * mel.sample_rate)))
        wave = crossfade(pieces, starts, mel.sample_rate, total)
        return Soundtrack(
            wave=np.clip(wave, -1.0, 1.0),
            sample_rate=mel.sample_rate,
            duration=duration,
            mode=mode if ambient is not None else "unconditioned",
            ambient=ambient,
            windows=len(starts),
            steps=steps,
            guidance=guidance,
            seed=seed,
            candidates=candidates,
            seconds=time.perf_counter() - started,
        )

    def render(
        self,
        windows: np.ndarray,
        ambient: np.ndarray | None,
        steps: int,
        guidance: float,
        seed: int = 0,
        candidates: int | None = None,
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Windows' frames (W, F, S, S, 3) and ambient audio (W, samples) or None ->
        generated normalised log-mels (W, n_mels, frames) and their waveforms through the
        pipeline's vocoder (W, samples), in batches; each the best of
        ``candidate_count(candidates)`` samples (``in_sync``)."""
        n = self.candidate_count(candidates)
        mels_out, waves_out = [], []
        for first in range(0, len(windows), WINDOW_BATCH):
            chunk = torch.from_numpy(windows[first : first + WINDOW_BATCH])
            with torch.no_grad():
                video = video_condition(self.video_model, chunk)
            latent = None
            if ambient is not None:
                wave = torch.from_numpy(ambient[first : first + WINDOW_BATCH])
                latent = self.pipeline.encode_audio(wave).repeat(n, 1, 1, 1)
            # one batch of n samples per window (the first n = 1 draws the same noise)
            mels = self.pipeline.sample(
                video.repeat(n, 1, 1), latent, steps, guidance, seed=seed + first
            )
            chosen, waves = self.in_sync(mels.unflatten(0, (n, len(chunk))), video)
            mels_out.append(chosen)
            waves_out.append(waves)
        return torch.cat(mels_out), np.concatenate(waves_out)

    def candidate_count(self, requested: int | None = None) -> int:
        """Samples to draw per window: ``requested`` (default ``sampling.candidates``) when
        the pipeline has an onset predictor to choose among them, else 1."""
        if requested is not None and requested < 1:
            raise QueryError("candidates must be at least 1")
        if self.pipeline.onsets is None:
            return 1
        return self.pipeline.config.sampling.candidates if requested is None else requested

    def in_sync(
        self, samples: torch.Tensor, video: torch.Tensor
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Samples (n, W, n_mels, frames) of W windows with video features (W, F, D) -> per
        window the sample whose onsets (heard through the vocoder) agree best with those the
        onset predictor expects, ties to the earlier sample: (W, n_mels, frames) and its
        waveform (W, samples)."""
        n, count = samples.shape[:2]
        waves = self.vocode(samples.flatten(0, 1)).reshape(n, count, -1)
        if n == 1:
            return samples[0], waves[0]
        assert self.pipeline.onsets is not None
        wanted = self.pipeline.onsets.onset_times(video.to(self.pipeline.device))
        rate = self.sample_rate
        agreement = np.array(
            [
                [onset_agreement(onset_times(waves[k, i], rate), wanted[i]) for i in range(count)]
                for k in range(n)
            ]
        )
        best = agreement.argmax(axis=0)  # (W,) the first best sample
        return samples[torch.from_numpy(best), torch.arange(count)], waves[best, np.arange(count)]

    def vocode(self, log_mel: torch.Tensor, vocoder: nn.Module | None = None) -> np.ndarray:
        """Log-mels (W, n_mels, T) -> waveforms (W, T * hop), in batches, through the
        pipeline's vocoder or ``vocoder`` (e.g. Griffin-Lim, to compare)."""
        vocoder = self.pipeline.vocoder if vocoder is None else vocoder
        with torch.no_grad():
            return np.concatenate(
                [
                    vocoder(log_mel[i : i + WINDOW_BATCH]).numpy()
                    for i in range(0, len(log_mel), WINDOW_BATCH)
                ]
            )

    def griffin_lim(self) -> nn.Module:
        """The Griffin-Lim fallback for this pipeline's spectrograms (nothing to load)."""
        config = self.pipeline.config
        return build_vocoder(replace(config.vocoder, kind="griffin_lim"), config.mel).eval()

    def generate_file(
        self,
        video: Path,
        mode: str = "joint",
        ambient_clip: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        seed: int = 0,
        candidates: int | None = None,
    ) -> Soundtrack:
        """Decode ``video`` (its own sound, if any, is ignored), pick the ambient, generate."""
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
        policy = self.engine.config.clips
        decoded = decode(video, fps=policy.cache_fps, size=policy.frame_size, require_audio=False)
        choice = self.ambient_for(mode, decoded.frames, decoded.fps, ambient_clip)
        return self.generate_frames(
            decoded.frames,
            decoded.fps,
            decoded.duration,
            choice,
            mode,
            steps,
            guidance,
            seed,
            candidates,
        )


def _choice(row: ClipRow, reason: str) -> AmbientChoice:
    return AmbientChoice(row.clip_id, row.video, row.start, row.end, reason)
