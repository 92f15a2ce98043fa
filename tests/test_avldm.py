"""AV-LDM networks and pipeline: shapes, save/load round trips, conditioning that matters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from models import train as training
from models.avldm.autoencoder import SpectrogramAutoencoder, temporal_l1
from models.avldm.config import (
    AutoencoderConfig,
    AVLDMConfig,
    DenoiserConfig,
    GeneratorTrainConfig,
    MelConfig,
)
from models.avldm.onsets import OnsetPredictor
from models.avldm.pipeline import AVLDMPipeline, denoiser_loss
from models.avldm.train import fit
from models.train import native_bf16

SMALL = AVLDMConfig(
    autoencoder=AutoencoderConfig(latent_channels=4, width=16),
    denoiser=DenoiserConfig(width=32, depth=2, heads=2, video_dim=8),
)


def test_autoencoder_shapes_and_latent_scale():
    torch.manual_seed(0)
    ae = SpectrogramAutoencoder(SMALL.autoencoder, SMALL.mel)
    mel = torch.randn(3, 64, 128)
    latent = ae.encode(mel)
    assert latent.shape == (3, *ae.latent_shape) == (3, 4, 8, 32)
    assert ae.decode(latent).shape == mel.shape
    ae.calibrate(mel)
    assert float(ae.encode(mel).std()) == pytest.approx(1.0, rel=1e-3)


def test_autoencoder_learns_to_reconstruct():
    torch.manual_seed(0)
    ae = SpectrogramAutoencoder(SMALL.autoencoder, SMALL.mel)
    rows = torch.linspace(-1, 1, 64)[:, None]
    data = torch.stack([torch.sin(3 * rows * k) * torch.ones(64, 128) for k in range(1, 9)])
    before = float(ae.loss(data)[0])
    fit(ae, ae.loss, lambda: data, steps=80, lr=3e-3, desc="ae", progress=False)
    assert float(ae.loss(data)[0]) < 0.5 * before


def test_fit_computes_in_bfloat16_only_where_asked_and_native(monkeypatch):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    data = torch.randn(16, 4)
    seen: list[torch.dtype] = []

    def loss_fn(x: torch.Tensor):
        y = model(x)
        seen.append(y.dtype)
        return (y.float() - 1.0).pow(2).mean(), {}

    def run(bf16: bool, native: bool) -> list[torch.dtype]:
        torch.nn.init.zeros_(model.weight)
        torch.nn.init.zeros_(model.bias)
        monkeypatch.setattr(training, "native_bf16", lambda device: native)
        seen.clear()
        result = fit(model, loss_fn, lambda: data, 60, 5e-2, "toy", progress=False, bf16=bf16)
        assert result.final_loss < 0.1  # it still learns (from 1.0 at zero weights)
        return sorted(set(seen))

    assert run(bf16=True, native=True) == [torch.bfloat16]
    assert model.weight.dtype == torch.float32  # weights and optimiser stay float32
    assert run(bf16=True, native=False) == [torch.float32]
    assert run(bf16=False, native=True) == [torch.float32]
    assert not native_bf16(torch.device("meta"))  # only CPUs are measured


def test_temporal_loss_punishes_flicker_not_a_steady_offset():
    target = torch.zeros(2, 64, 128)
    target[:, :, 40:] = 3.0  # one onset
    offset = target + 0.5  # the right shape at the wrong level
    flicker = target + 0.5 * (torch.arange(128) % 2 * 2 - 1)  # the same L1 error, flickering
    assert float((offset - target).abs().mean()) == float((flicker - target).abs().mean())
    assert float(temporal_l1(offset, target)) == 0.0
    assert float(temporal_l1(flicker, target)) == pytest.approx(1.0)
    ae = SpectrogramAutoencoder(SMALL.autoencoder, SMALL.mel)
    parts = ae.loss(target)[1]
    assert parts["temporal"] > 0
    expected = parts["recon"] + parts["temporal"] + SMALL.autoencoder.kl_weight * parts["kl"]
    assert parts["loss"] == pytest.approx(expected, rel=1e-5)


def test_pipeline_round_trip(tmp_path):
    torch.manual_seed(0)
    pipeline = AVLDMPipeline.create(SMALL, video_dim=8)
    pipeline.info = {"video_model": "abc", "holdout_videos": ["v1"]}
    pipeline.save_pretrained(tmp_path / "p")
    for part in ("autoencoder", "denoiser", "vocoder", "scheduler", "onsets"):
        assert (tmp_path / "p" / part).is_dir()
    loaded = AVLDMPipeline.from_pretrained(tmp_path / "p")
    assert isinstance(loaded.onsets, OnsetPredictor)
    assert loaded.info == pipeline.info
    assert loaded.config == pipeline.config
    video = torch.randn(2, 16, 8)
    ambient = torch.randn(2, 4, 8, 32)
    a = pipeline.sample(video, ambient, steps=3, seed=1)
    b = loaded.sample(video, ambient, steps=3, seed=1)
    assert a.shape == (2, 64, 128)
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, pipeline.sample(video, ambient, steps=3, seed=2))
    wave = loaded.vocode(a)
    assert wave.shape == (2, MelConfig().samples)
    griffin = AVLDMPipeline.from_pretrained(tmp_path / "p", vocoder="griffin_lim")
    assert type(griffin.vocoder).__name__ == "GriffinLimVocoder"
    with pytest.raises(FileNotFoundError, match="no AV-LDM pipeline"):
        AVLDMPipeline.from_pretrained(tmp_path / "missing")


def test_a_pipeline_saved_before_the_onset_predictor_loads_without_one(tmp_path):
    pipeline = AVLDMPipeline.create(SMALL, video_dim=8)
    pipeline.onsets = None
    pipeline.save_pretrained(tmp_path / "p")
    assert not (tmp_path / "p" / "onsets").exists()
    assert AVLDMPipeline.from_pretrained(tmp_path / "p").onsets is None


def test_onset_predictor_learns_when_sounds_start(tmp_path):
    """A toy world: a sound starts at the latent step of the frame whose first feature
    jumps. After a short training the predicted onsets are those steps, also once reloaded."""
    torch.manual_seed(0)
    predictor = OnsetPredictor(SMALL.onsets, SMALL.mel, SMALL.denoiser)
    rng = np.random.default_rng(0)

    def world(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        frame = torch.from_numpy(rng.integers(0, 16, size=n))
        video = torch.randn(n, 16, 8) * 0.3
        video[torch.arange(n), frame, 0] += 3.0
        onsets = torch.zeros(n, predictor.steps)
        onsets[torch.arange(n), 2 * frame] = 1.0  # 16 frames, 32 steps: 2 per frame
        return video, onsets

    predictor.fit_normalisation(world(256)[0])
    fit(predictor, predictor.loss, lambda: world(64), 200, 3e-3, "toy", progress=False)
    video, onsets = world(16)
    truth = [(float(step) + 0.5) / 16 for step in onsets.argmax(dim=1)]  # 1/16 s a step
    predicted = predictor.onset_times(video)
    pairs = zip(truth, predicted, strict=True)
    hits = [any(abs(t - p) <= 0.07 for p in found) for t, found in pairs]
    assert np.mean(hits) >= 0.8
    assert np.mean([len(found) for found in predicted]) <= 1.5  # not a click everywhere
    predictor.save_pretrained(tmp_path / "onsets")
    assert OnsetPredictor.from_pretrained(tmp_path / "onsets").onset_times(video) == predicted


def test_ddim_sampler_and_unknown_sampler():
    pipeline = AVLDMPipeline.create(SMALL, video_dim=8)
    assert type(pipeline.sampler("ddim")).__name__ == "DDIMScheduler"
    with pytest.raises(ValueError, match="unknown sampler"):
        pipeline.sampler("euler")


def test_denoiser_learns_to_follow_the_video_condition():
    """A toy world: the latent's time course is the video feature's time course. After a
    short training, guided samples follow the video they are given, not another one."""
    torch.manual_seed(0)
    pipeline = AVLDMPipeline.create(SMALL, video_dim=8)
    denoiser, scheduler = pipeline.denoiser, pipeline.scheduler
    rng = np.random.default_rng(0)

    def world(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        onset = torch.from_numpy(rng.integers(0, 16, size=n))
        video = torch.zeros(n, 16, 8)
        video[torch.arange(n), onset, 0] = 3.0  # the frame where the action happens
        steps = torch.arange(32)[None]
        latent = torch.full((n, 4, 8, 32), -1.0)
        active = (steps >= 2 * onset[:, None]) & (steps < 2 * onset[:, None] + 6)
        latent[active[:, None, None, :].expand_as(latent)] = 1.0
        return latent, video

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        return world(32)

    def loss(b: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        latent, video = b
        return denoiser_loss(denoiser, scheduler, latent, video, latent, 0.2, 1.0)

    fit(denoiser, loss, batch, steps=600, lr=3e-3, desc="toy", progress=False)
    latent, video = world(8)
    sampled = _sample_latent(pipeline, video, guidance=2.0)
    error = (sampled - latent).abs().mean()
    shuffled = (sampled - latent.roll(1, dims=0)).abs().mean()
    assert error < 0.8 * shuffled  # ignoring the video gives about 1.0


def test_guidance_steers_towards_the_video_and_keeps_the_ambient():
    """The guided pair of predictions differs in the video alone: both see the ambient when
    one is given, so guidance does not exaggerate the background; neither sees it without."""
    pipeline = AVLDMPipeline.create(SMALL, video_dim=8)
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    forward = pipeline.denoiser.forward

    def spy(*inputs: torch.Tensor) -> torch.Tensor:
        calls.append((inputs[4].clone(), inputs[5].clone()))  # use_video, use_ambient
        return forward(*inputs)

    pipeline.denoiser.forward = spy  # type: ignore[method-assign]
    video = torch.randn(2, 16, 8)
    pipeline.sample(video, torch.randn(2, 4, 8, 32), steps=2)
    given = calls[:]
    calls.clear()
    pipeline.sample(video, None, steps=2)
    assert len(given) == len(calls) == 2
    for use_video, use_ambient in given:
        assert use_video.tolist() == [True, True, False, False]
        assert use_ambient.tolist() == [True] * 4
    for use_video, use_ambient in calls:
        assert use_video.tolist() == [True, True, False, False]
        assert use_ambient.tolist() == [False] * 4


def _sample_latent(pipeline: AVLDMPipeline, video: torch.Tensor, guidance: float) -> torch.Tensor:
    """``pipeline.sample`` stops before decoding: the same loop, returning the latent."""
    decode = pipeline.autoencoder.decode
    pipeline.autoencoder.decode = lambda x: x  # type: ignore[method-assign]
    try:
        return pipeline.sample(video, None, steps=20, guidance=guidance, seed=0)
    finally:
        pipeline.autoencoder.decode = decode  # type: ignore[method-assign]


def test_a_gpu_trains_the_denoiser_longer_and_nothing_else():
    cpu = GeneratorTrainConfig()
    gpu = cpu.accelerated()
    assert gpu.denoiser_steps > cpu.denoiser_steps and gpu.batch_size > cpu.batch_size
    changed = {k for k, v in dataclasses.asdict(gpu).items() if dataclasses.asdict(cpu)[k] != v}
    assert changed == {"denoiser_steps", "batch_size"}
