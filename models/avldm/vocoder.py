"""Normalised log-mel (B, n_mels, T) -> 16 kHz waveform (B, T * hop): learned or Griffin-Lim.

The learned vocoder follows Vocos: ConvNeXt blocks at the mel frame rate predict each STFT
frame's magnitude and phase, and inverse STFTs make the waveform, so nothing runs at the
sample rate. Trained without a discriminator (CPU budget), a phase predicted frame by frame
stays inconsistent between overlapping frames, so two changes make it beat Griffin-Lim on
real audio: the magnitude is a residual over the least-squares inverse of the mel filterbank,
and a few fast Griffin-Lim steps, started from the predicted phase and unrolled in training,
make the spectrogram consistent (as Deep Griffin-Lim). Griffin-Lim from zero phase, with
nothing learned, is the baseline. Measured on 50 held-out 2 s crops of real clips after 1500
steps: log-mel L1 0.030 vs 0.032 and multi-resolution log-STFT L1 0.643 vs 0.663 (Griffin-Lim,
32 steps); without the unrolled steps the learned vocoder reached only 0.11 and 0.88.
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

MOMENTUM = 0.99  # fast Griffin-Lim (torchaudio's default)
TRAIN_PROJECTIONS = 4  # Griffin-Lim steps after the learned phase while training ...
INFER_PROJECTIONS = 16  # ... and at inference, where more steps only help
MAX_LOG_MAGNITUDE = 4.6  # exp(4.6) ~ 100: an STFT magnitude well above full scale
MAGNITUDE_FLOOR = 1e-5
STFT_RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))  # (n_fft, hop) of the STFT loss
MEL_WEIGHT = 15.0  # mel L1 (normalised log-mel units) against the STFT terms
MAGNITUDE_WEIGHT = 1.0  # predicted log-magnitude against the target's STFT


def repeat_last_frame(log_mel: torch.Tensor) -> torch.Tensor:
    """(B, n_mels, T) -> (B, n_mels, T + 1): a centred STFT of T * hop samples has T + 1 frames."""
    return torch.cat([log_mel, log_mel[..., -1:]], dim=-1)


def griffin_lim(
    magnitude: torch.Tensor, phase: torch.Tensor, window: torch.Tensor, hop: int, iters: int
) -> torch.Tensor:
    """Fast Griffin-Lim from an initial unit ``phase``; magnitude, phase (B, bins, T + 1).

    Returns (B, T * hop). Differentiable; with ``phase`` all ones it is torchaudio's
    ``griffinlim(..., momentum=MOMENTUM, rand_init=False)``, bit for bit.
    """
    n_fft, length = window.shape[0], (magnitude.shape[-1] - 1) * hop
    previous = torch.zeros_like(phase)
    for _ in range(iters):
        wave = torch.istft(magnitude * phase, n_fft, hop, window=window, length=length)
        rebuilt = torch.stft(wave, n_fft, hop, window=window, return_complex=True)
        phase = rebuilt - previous * (MOMENTUM / (1 + MOMENTUM))
        phase = phase / (phase.abs() + 1e-16)
        previous = rebuilt
    return torch.istft(magnitude * phase, n_fft, hop, window=window, length=length)


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


class MelInversion(PretrainedMixin, nn.Module):
    """What both vocoders share: the configs, the mel transform and its least-squares inverse."""

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

    def linear_magnitude(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) -> (B, n_fft // 2 + 1, T + 1) STFT magnitude estimate."""
        return self.inverse_mel(self.log_mel.magnitude(repeat_last_frame(log_mel.float())))


class Vocoder(MelInversion):
    """Vocos-style vocoder; owns the ``LogMel`` its loss compares against."""

    def __init__(self, vocoder: VocoderConfig, mel: MelConfig):
        super().__init__(vocoder, mel)
        w = vocoder.width
        self.embed = nn.Conv1d(mel.n_mels, w, 7, padding=3)
        self.norm = nn.LayerNorm(w)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(w, 1.0 / vocoder.depth) for _ in range(vocoder.depth)
        )
        self.final_norm = nn.LayerNorm(w)
        self.head = nn.Linear(w, 2 * (mel.n_fft // 2 + 1))  # log-magnitude residual, phase

    def spectrum(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_mels, T) -> log-magnitude and unit phase, each (B, n_fft // 2 + 1, T + 1)."""
        base = self.linear_magnitude(log_mel).clamp_min(MAGNITUDE_FLOOR).log()
        x = self.embed(repeat_last_frame(log_mel))  # (B, C, T + 1)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)  # (B, C, T + 1)
        for block in self.blocks:
            x = block(x)
        residual, angle = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2).chunk(2, 1)
        log_mag = (base + residual).clamp(max=MAX_LOG_MAGNITUDE)
        return log_mag, torch.complex(torch.cos(angle), torch.sin(angle))

    def synthesise(self, log_mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """Spectrum from ``spectrum`` -> (B, T * hop), after a few Griffin-Lim steps."""
        iters = TRAIN_PROJECTIONS if self.training else INFER_PROJECTIONS
        return griffin_lim(log_mag.exp(), phase, self.window, self.mel.hop, iters)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) -> (B, T * hop)."""
        return self.synthesise(*self.spectrum(log_mel))


class GriffinLimVocoder(MelInversion):
    """Least-squares linear magnitude -> Griffin-Lim from zero phase; nothing to train.

    Its saved folder holds the config and the filterbanks, which the config rebuilds exactly.
    """

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) -> (B, T * hop); deterministic."""
        magnitude = self.linear_magnitude(log_mel)  # (B, n_fft // 2 + 1, T + 1)
        phase = torch.ones_like(magnitude, dtype=torch.complex64)
        return griffin_lim(
            magnitude, phase, self.window, self.mel.hop, self.vocoder.griffin_lim_iters
        )


VOCODERS: dict[str, type[MelInversion]] = {"learned": Vocoder, "griffin_lim": GriffinLimVocoder}


def build_vocoder(vocoder: VocoderConfig, mel: MelConfig) -> MelInversion:
    """A fresh vocoder of the configured kind ("learned" or "griffin_lim")."""
    if vocoder.kind not in VOCODERS:
        raise ValueError(f"unknown vocoder kind {vocoder.kind!r}; expected one of {list(VOCODERS)}")
    return VOCODERS[vocoder.kind](vocoder, mel)


def load_vocoder(directory: str | Path, device: str | torch.device = "cpu") -> MelInversion:
    """Load whichever vocoder class the folder's config.json names."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} holds no vocoder ({CONFIG_FILE} missing)")
    name = json.loads(path.read_text()).get("class")
    classes = {cls.__name__: cls for cls in VOCODERS.values()}
    if name not in classes:
        raise ValueError(f"{path} names class {name!r}, not a vocoder")
    return classes[name].from_pretrained(directory, device)


def log_magnitude(wave: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, N) -> (B, n_fft // 2 + 1, N // hop + 1) log STFT magnitude, floored."""
    window = torch.hann_window(n_fft, device=wave.device)
    spec = torch.stft(wave, n_fft, hop, window=window, return_complex=True)
    return spec.abs().clamp_min(MAGNITUDE_FLOOR).log()


def stft_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral convergence and log-magnitude L1, each averaged over ``STFT_RESOLUTIONS``."""
    convergence, log_l1 = pred.new_zeros(()), pred.new_zeros(())
    for n_fft, hop in STFT_RESOLUTIONS:
        log_pred, log_target = log_magnitude(pred, n_fft, hop), log_magnitude(target, n_fft, hop)
        difference = torch.linalg.norm(log_target.exp() - log_pred.exp())
        convergence = convergence + difference / torch.linalg.norm(log_target.exp())
        log_l1 = log_l1 + F.l1_loss(log_pred, log_target)
    return convergence / len(STFT_RESOLUTIONS), log_l1 / len(STFT_RESOLUTIONS)


def vocoder_loss(model: Vocoder, wave: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Resynthesise ``wave`` (B, N) from its own log-mel.

    Multi-resolution STFT (spectral convergence + log-magnitude L1) of the output, mel L1 of
    the output, and L1 of the predicted log-magnitude against the target's STFT.
    """
    target_mel = model.log_mel(wave)  # (B, n_mels, T)
    target = wave[:, : target_mel.shape[-1] * model.mel.hop].float()  # (B, T * hop)
    log_mag, phase = model.spectrum(target_mel)  # (B, bins, T + 1)
    pred = model.synthesise(log_mag, phase)  # (B, T * hop)
    convergence, log_l1 = stft_loss(pred, target)
    mel_l1 = F.l1_loss(model.log_mel(pred), target_mel)
    magnitude_l1 = F.l1_loss(log_mag, log_magnitude(target, model.mel.n_fft, model.mel.hop))
    loss = convergence + log_l1 + MEL_WEIGHT * mel_l1 + MAGNITUDE_WEIGHT * magnitude_l1
    parts = {
        "loss": loss.item(),
        "convergence": convergence.item(),
        "log_stft": log_l1.item(),
        "mel": mel_l1.item(),
        "magnitude": magnitude_l1.item(),
    }
    return loss, parts
