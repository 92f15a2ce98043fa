"""Behaviour of AV-LDM's vocoders: output length, saved folders, training, Griffin-Lim pitch."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torchaudio

from models.avldm.config import MelConfig, VocoderConfig
from models.avldm.pretrained import CONFIG_FILE
from models.avldm.spectrogram import LogMel
from models.avldm.train import fit
from models.avldm.vocoder import (
    GriffinLimVocoder,
    Vocoder,
    build_vocoder,
    load_vocoder,
    vocoder_loss,
)

torch.set_num_threads(2)

MEL = MelConfig()
TINY = VocoderConfig(width=32, depth=2, griffin_lim_iters=8)


def bursts(batch: int, seconds: float, generator: torch.Generator) -> torch.Tensor:
    """(batch, N) decaying sine bursts at random onsets and pitches over faint noise."""
    n = int(seconds * MEL.sample_rate)
    t = torch.arange(n) / MEL.sample_rate
    wave = 0.01 * torch.randn(batch, n, generator=generator)
    for _ in range(3):
        onset = torch.rand(batch, 1, generator=generator) * seconds * 0.8
        freq = 200.0 + 1800.0 * torch.rand(batch, 1, generator=generator)
        since = (t - onset).clamp_min(0.0)
        wave += 0.3 * (t >= onset) * torch.exp(-8.0 * since) * torch.sin(2 * math.pi * freq * since)
    return wave


@pytest.mark.parametrize("cls", [Vocoder, GriffinLimVocoder])
@pytest.mark.parametrize("frames", [3, 7, 64])
def test_output_has_exactly_frames_times_hop_samples(cls: type, frames: int) -> None:
    vocoder = cls(TINY, MEL).eval()
    with torch.no_grad():
        wave = vocoder(torch.randn(2, MEL.n_mels, frames))
    assert wave.shape == (2, frames * MEL.hop)
    assert torch.isfinite(wave).all()


@pytest.mark.parametrize("cls", [Vocoder, GriffinLimVocoder])
def test_saved_folder_reloads_to_the_same_output(cls: type, tmp_path: Path) -> None:
    torch.manual_seed(0)
    vocoder = cls(TINY, MEL).eval()
    log_mel = LogMel(MEL)(bursts(1, 0.5, torch.Generator().manual_seed(1)))
    vocoder.save_pretrained(tmp_path / "vocoder")
    reloaded = cls.from_pretrained(tmp_path / "vocoder")
    assert reloaded.vocoder == TINY and reloaded.mel == MEL
    with torch.no_grad():
        assert torch.equal(vocoder(log_mel), reloaded(log_mel))


def test_load_vocoder_rebuilds_the_class_the_folder_names(tmp_path: Path) -> None:
    for kind, cls in (("learned", Vocoder), ("griffin_lim", GriffinLimVocoder)):
        config = VocoderConfig(width=32, depth=2, kind=kind)
        build_vocoder(config, MEL).save_pretrained(tmp_path / kind)
        loaded = load_vocoder(tmp_path / kind)
        assert type(loaded) is cls
        assert loaded.vocoder == config
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / CONFIG_FILE).write_text(json.dumps({"class": "SpectrogramAutoencoder"}))
    with pytest.raises(ValueError, match="not a vocoder"):
        load_vocoder(tmp_path / "other")
    with pytest.raises(FileNotFoundError):
        load_vocoder(tmp_path / "missing")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown vocoder kind"):
        build_vocoder(VocoderConfig(kind="wavenet"), MEL)


def test_short_training_lowers_the_reconstruction_loss() -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    held_out = bursts(4, 0.5, generator)
    vocoder = Vocoder(TINY, MEL).eval()
    with torch.no_grad():
        before = vocoder_loss(vocoder, held_out)[1]
    fit(
        vocoder,
        lambda wave: vocoder_loss(vocoder, wave),
        lambda: bursts(8, 0.5, generator),
        steps=80,
        lr=3e-3,
        desc="vocoder",
        progress=False,
    )  # leaves the vocoder in eval mode
    with torch.no_grad():
        after = vocoder_loss(vocoder, held_out)[1]
    assert after["loss"] < 0.8 * before["loss"]
    assert after["mel"] < 0.6 * before["mel"]


def test_griffin_lim_vocoder_is_torchaudios_griffin_lim() -> None:
    vocoder = GriffinLimVocoder(TINY, MEL)
    log_mel = LogMel(MEL)(bursts(2, 0.5, torch.Generator().manual_seed(2)))
    magnitude = vocoder.linear_magnitude(log_mel)
    expected = torchaudio.functional.griffinlim(
        magnitude,
        vocoder.window,
        MEL.n_fft,
        MEL.hop,
        MEL.n_fft,
        power=1.0,
        n_iter=TINY.griffin_lim_iters,
        momentum=0.99,
        length=log_mel.shape[-1] * MEL.hop,
        rand_init=False,
    )
    assert torch.allclose(vocoder(log_mel), expected, atol=1e-6)


@pytest.mark.parametrize("freq", [300.0, 1000.0])
def test_griffin_lim_puts_a_tone_at_its_frequency(freq: float) -> None:
    t = torch.arange(MEL.sample_rate) / MEL.sample_rate
    tone = 0.5 * torch.sin(2 * math.pi * freq * t)[None]  # (1, 16000)
    vocoder = GriffinLimVocoder(VocoderConfig(griffin_lim_iters=16), MEL)
    with torch.no_grad():
        wave = vocoder(LogMel(MEL)(tone))[0]
    spectrum = torch.fft.rfft(wave * torch.hann_window(wave.shape[-1])).abs()
    freqs = torch.fft.rfftfreq(wave.shape[-1], 1.0 / MEL.sample_rate)
    near = (freqs - freq).abs() < 60.0  # mel bands are ~30 (300 Hz) to ~65 Hz (1 kHz) apart
    assert abs(float(freqs[spectrum.argmax()]) - freq) < 40.0
    assert spectrum[near].square().sum() > 0.8 * spectrum.square().sum()
