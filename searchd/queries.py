"""Turn a user's query (text, audio file, video file) into vectors of the shared space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from indexer.cache import frames_between
from indexer.config import ClipPolicy
from indexer.media import decode, read_audio
from indexer.narrations import clean_text
from models.mc3 import MC3


def _windows(duration: float, length: float) -> list[float]:
    """Start times of half-overlapping clip windows covering ``duration`` seconds."""
    if duration <= length:
        return [0.0]
    count = int(np.ceil((duration - length) / (length / 2))) + 1
    return list(np.linspace(0.0, duration - length, count))


def sound_windows(audio: np.ndarray, rate: int, seconds: float, samples: int) -> np.ndarray:
    """(W, samples) float32: half-overlapping ``seconds``-long windows of a waveform (N,)
    sampled at ``rate``, each cut or zero-padded to ``samples``."""
    starts = _windows(len(audio) / rate, seconds)
    pieces = np.zeros((len(starts), samples), dtype=np.float32)
    for i, start in enumerate(starts):
        chunk = audio[int(start * rate) : int(start * rate) + samples]
        pieces[i, : len(chunk)] = chunk
    return pieces


def read_sound(path: Path, rate: int) -> np.ndarray:
    """A whole audio (or video) file's sound at ``rate``: (N,) float32; ValueError if empty."""
    audio = read_audio(path, rate)
    if audio.size == 0:
        raise ValueError(f"{path}: no audio samples")
    return audio


def _mean_direction(vectors: torch.Tensor) -> np.ndarray:
    mean = vectors.mean(dim=0)
    return (mean / mean.norm().clamp_min(1e-8)).numpy().astype(np.float32)


@torch.no_grad()
def encode_text_query(model: MC3, text: str) -> np.ndarray:
    """(D,) MC3 text embedding of a query string."""
    model.eval()
    prepared = model.prepare_text([clean_text(text) or text])
    return model.encode_text(prepared)[0].numpy().astype(np.float32)


@torch.no_grad()
def encode_audio_file(model: MC3, path: Path) -> np.ndarray:
    """(D,) embedding of a whole audio (or video) file: mean over clip-length windows."""
    model.eval()
    shape = model.config.clip
    audio = read_sound(path, shape.sample_rate)
    pieces = sound_windows(audio, shape.sample_rate, shape.seconds, shape.audio_samples)
    return _mean_direction(model.encode_audio(torch.from_numpy(pieces)))


@torch.no_grad()
def encode_video_file(model: MC3, path: Path, policy: ClipPolicy) -> np.ndarray:
    """(D,) embedding of a whole video file's frames: mean over clip-length windows."""
    model.eval()
    decoded = decode(path, fps=policy.cache_fps, size=policy.frame_size, require_audio=False)
    shape = model.config.clip
    batches = []
    for start in _windows(decoded.duration, shape.seconds):
        end = start + shape.seconds
        batches.append(frames_between(decoded.frames, decoded.fps, start, end, shape.frames))
    frames = torch.from_numpy(np.stack(batches))  # (W, F, S, S, 3)
    return _mean_direction(model.encode_video(frames))
