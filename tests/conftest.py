"""Shared fixtures: small synthetic media files written with PyAV."""

from __future__ import annotations

import json
import os

# Several torch processes share 2 cores during the tests (servers, subprocess CLIs): spinning
# OpenMP workers would starve each other (a 10-40x slowdown); waiting threads must sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

# container suffix -> (video codec, audio codec)
CODECS = {
    ".mp4": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
}


def write_video(
    path: Path,
    seconds: float = 3.0,
    fps: int = 15,
    size: tuple[int, int] = (96, 72),
    audio: bool = True,
    video: bool = True,
    tone_hz: float = 440.0,
    sample_rate: int = 16000,
) -> Path:
    """Write `seconds` of moving coloured squares and/or a sine tone to `path`.

    The container and codecs follow the suffix (see CODECS; `.m4a`/`.wav` for audio only).
    A red square moves left to right and a green one top to bottom, so frame k is
    distinguishable from frame k+1; the tone is `tone_hz` at amplitude 0.5.
    """
    path = Path(path)
    video_codec, audio_codec = CODECS.get(path.suffix, ("libx264", "aac"))
    if path.suffix == ".wav":
        audio_codec = "pcm_s16le"
    width, height = size
    n_frames = round(seconds * fps)
    n_samples = round(seconds * sample_rate)
    with av.open(str(path), "w") as container:
        vstream = astream = None
        if video:
            vstream = container.add_stream(video_codec, rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        if audio:
            astream = container.add_stream(audio_codec, rate=sample_rate, layout="mono")
        if vstream is not None:
            for k in range(n_frames):
                frame = av.VideoFrame.from_ndarray(square_frame(k, n_frames, size), format="rgb24")
                container.mux(vstream.encode(frame))
            container.mux(vstream.encode())
        if astream is not None:
            t = np.arange(n_samples) / sample_rate
            tone = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            fmt = "s16" if audio_codec == "pcm_s16le" else "fltp"
            if fmt == "s16":
                tone = (tone * 32767).astype(np.int16)
            chunk = 1024
            for start in range(0, n_samples, chunk):
                frame = av.AudioFrame.from_ndarray(
                    tone[None, start : start + chunk], format=fmt, layout="mono"
                )
                frame.rate, frame.pts = sample_rate, start
                frame.time_base = Fraction(1, sample_rate)
                container.mux(astream.encode(frame))
            container.mux(astream.encode())
    return path


def square_frame(k: int, n_frames: int, size: tuple[int, int]) -> np.ndarray:
    """Frame k of n: dark background, a red square moving right, a green one moving down."""
    width, height = size
    img = np.full((height, width, 3), 30, np.uint8)
    side = max(4, min(width, height) // 4)
    progress = k / max(1, n_frames - 1)
    x = round(progress * (width - side))
    y = round(progress * (height - side))
    img[height // 4 : height // 4 + side, x : x + side] = (230, 30, 30)
    img[y : y + side, width // 2 : width // 2 + side] = (30, 230, 30)
    return img


@pytest.fixture
def make_video() -> Callable[..., Path]:
    """The `write_video` function: `make_video(tmp_path / "v.mp4", seconds=2.0, audio=False)`."""
    return write_video


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic corpus (`foley synth` output): 3 videos x 16 s, seed 5."""
    from indexer.synth import write_corpus

    out = tmp_path_factory.mktemp("tiny-corpus")
    write_corpus(out, videos=3, seconds=16, seed=5, workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_home(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Foley home built from `tiny_corpus` with a briefly trained model (shared, read-only)."""
    from indexer.build import build
    from indexer.config import FoleyConfig

    home = tmp_path_factory.mktemp("tiny-home")
    config = FoleyConfig.for_home(home, progress=False)
    build(tiny_corpus / "videos", tiny_corpus / "narrations.json", config, steps=30)
    return home


@pytest.fixture(scope="session")
def toy_model():
    """A tiny DenseAV trained on the toy world (tests/toy_world.py), shared by the tests."""
    from toy_world import train_toy_model

    return train_toy_model()


def save_tiny_vit(folder: Path, name: str = "foley-tiny-vit") -> tuple[Any, Path]:
    """Register a tiny open_clip ViT config ``name`` (64 px, 16 px patches) and save a
    randomly initialised checkpoint of it: (the open_clip model, the checkpoint path)."""
    import open_clip
    import torch

    tiny = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
        "text_cfg": {
            "context_length": 16,
            "vocab_size": 1000,
            "width": 32,
            "heads": 2,
            "layers": 1,
        },
    }
    (folder / f"{name}.json").write_text(json.dumps(tiny))
    open_clip.add_model_config(folder / f"{name}.json")
    source = open_clip.create_model(name)
    torch.save(source.state_dict(), folder / f"{name}.pt")
    return source, folder / f"{name}.pt"
