"""Normalised log-mel (B, n_mels, T) -> 16 kHz waveform (B, T * hop): learned or Griffin-Lim.

The learned vocoder follows Vocos: ConvNeXt blocks at the mel frame rate predict each STFT
frame's log-magnitude and phase, and one inverse STFT makes the waveform, so nothing runs
at the sample rate. It trains without a discriminator on multi-resolution STFT + mel L1.
Griffin-Lim needs no training and is the baseline it must beat.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from models.avldm.config import MelConfig, VocoderConfig
from models.avldm.pretrained import CONFIG_FILE, PretrainedMixin
from models.avldm.spectrogram import LogMel

MAX_LOG_MAGNITUDE = 4.6  # exp(4.6) ~ 100: an STFT magnitude well above full scale
STFT_RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))  # (n_fft, hop) of the STFT loss
MEL_WEIGHT = 5.0  # mel L1 (normalised log-mel units) against the STFT terms


def _pad_last_frame(log_mel: torch.Tensor) -> torch.Tensor:
    """(B, M, T) -> (B, M, T + 1): the centred STFT of T * hop samples has T + 1 frames."""
    return torch.cat([log_mel, log_mel[..., -1:]], dim=-1)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k=7) -> LayerNorm -> pointwise MLP (x3, GELU) -> layer-scaled residual."""

    def __init__(self, width: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(width, width, 7, padding=3, groups=width)
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 3 * width), nn.GELU(), nn.Linear(3 * width, width)
        )
        self.gamma = nn.Parameter(torch.full((width,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        h = self.mlp(self.norm(self.dwconv(x).transpose(1, 2)))  # (B, T, C)
        return x + (self.gamma * h).transpose(1, 2)


class Vocoder(PretrainedMixin, nn.Module):
    """Vocos-style vocoder; owns the ``LogMel`` its loss compares against."""

    config_classes = {"vocoder": VocoderConfig, "mel": MelConfig}

    def __init__(self, vocoder: VocoderConfig, mel: MelConfig):
        super().__init__()
        self.vocoder, self.mel = vocoder, mel
        w, bins = vocoder.width, mel.n_fft // 2 + 1
        self.log_mel = LogMel(mel)
        self.embed = nn.Conv1d(mel.n_mels, w, 7, padding=3)
        self.norm = nn.LayerNorm(w)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(w, 1.0 / vocoder.depth) for _ in range(vocoder.depth)
        )
        self.final_norm = nn.LayerNorm(w)
        self.head = nn.Linear(w, 2 * bins)  # log-magnitude and phase of each STFT bin
        self.register_buffer("window", torch.hann_window(mel.n_fft), persistent=False)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) -> (B, T * hop)."""
        frames = log_mel.shape[-1]
        x = self.embed(_pad_last_frame(log_mel))  # (B, C, T + 1)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        log_mag, phase = self.head(self.final_norm(x.transpose(1, 2))).chunk(2, dim=-1)
        mag = log_mag.clamp(max=MAX_LOG_MAGNITUDE).exp()  # (B, T + 1, bins)
        spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase)).transpose(1, 2)
        hop = self.mel.hop
        return torch.istft(
            spec, self.mel.n_fft, hop, window=self.window, center=True, length=frames * hop
        )


class GriffinLimVocoder(PretrainedMixin, nn.Module):
    """Mel magnitude -> least-squares linear magnitude -> Griffin-Lim phase; nothing to train.

    Its saved folder holds the config and the filterbanks, which the config rebuilds exactly.
    """

    config_classes = {"vocoder": VocoderConfig, "mel": MelConfig}

    def __init__(self, vocoder: VocoderConfig, mel: MelConfig):
        super().__init__()
        self.vocoder, self.mel = vocoder, mel
        self.log_mel = LogMel(mel)
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=mel.n_fft // 2 + 1,
            n_mels=mel.n_mels,
            sample_rate=mel.sample_rate,
            f_min=mel.f_min,
            f_max=mel.f_max,
        )
        self.register_buffer("window", torch.hann_window(mel.n_fft), persistent=False)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) -> (B, T * hop); deterministic (zero initial phase)."""
        frames = log_mel.shape[-1]
        magnitude = self.inverse_mel(self.log_mel.magnitude(_pad_last_frame(log_mel).float()))
        return torchaudio.functional.griffinlim(
            magnitude,  # (B, n_fft // 2 + 1, T + 1)
            window=self.window,
            n_fft=self.mel.n_fft,
            hop_length=self.mel.hop,
            win_length=self.mel.n_fft,
            power=1.0,
            n_iter=self.vocoder.griffin_lim_iters,
            momentum=0.99,
            length=frames * self.mel.hop,
            rand_init=False,
        )


VOCODERS: dict[str, type[Vocoder] | type[GriffinLimVocoder]] = {
    "learned": Vocoder,
    "griffin_lim": GriffinLimVocoder,
}


def build_vocoder(vocoder: VocoderConfig, mel: MelConfig) -> Vocoder | GriffinLimVocoder:
    """A fresh vocoder of the configured kind ("learned" or "griffin_lim")."""
    if vocoder.kind not in VOCODERS:
        raise ValueError(f"unknown vocoder kind {vocoder.kind!r}; expected one of {list(VOCODERS)}")
    return VOCODERS[vocoder.kind](vocoder, mel)


def load_vocoder(
    directory: str | Path, device: str | torch.device = "cpu"
) -> Vocoder | GriffinLimVocoder:
    """Load whichever vocoder class the folder's config.json names."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} holds no vocoder ({CONFIG_FILE} missing)")
    name = json.loads(path.read_text()).get("class")
    classes = {cls.__name__: cls for cls in VOCODERS.values()}
    if name not in classes:
        raise ValueError(f"{path} names class {name!r}, not a vocoder")
    return classes[name].from_pretrained(directory, device)


def stft_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral convergence and log-magnitude L1, each averaged over ``STFT_RESOLUTIONS``."""
    convergence, log_l1 = pred.new_zeros(()), pred.new_zeros(())
    for n_fft, hop in STFT_RESOLUTIONS:
        window = torch.hann_window(n_fft, device=pred.device)
        mags = [
            torch.stft(x, n_fft, hop, window=window, return_complex=True).abs().clamp_min(1e-5)
            for x in (pred, target)
        ]  # each (B, n_fft // 2 + 1, frames)
        convergence = convergence + torch.linalg.norm(mags[1] - mags[0]) / torch.linalg.norm(
            mags[1]
        ).clamp_min(1e-5)
        log_l1 = log_l1 + F.l1_loss(mags[0].log(), mags[1].log())
    return convergence / len(STFT_RESOLUTIONS), log_l1 / len(STFT_RESOLUTIONS)


def vocoder_loss(model: Vocoder, wave: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Resynthesise ``wave`` (B, N) from its own log-mel; multi-resolution STFT + mel L1."""
    target_mel = model.log_mel(wave)  # (B, n_mels, T)
    target = wave[:, : target_mel.shape[-1] * model.mel.hop].float()
    pred = model(target_mel)  # (B, T * hop)
    convergence, log_l1 = stft_loss(pred, target)
    mel_l1 = F.l1_loss(model.log_mel(pred), target_mel)
    loss = convergence + log_l1 + MEL_WEIGHT * mel_l1
    parts = {
        "loss": loss.item(),
        "convergence": convergence.item(),
        "log_stft": log_l1.item(),
        "mel": mel_l1.item(),
    }
    return loss, parts
