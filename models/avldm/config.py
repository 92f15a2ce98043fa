"""Typed configuration of AV-LDM: spectrogram, autoencoder, denoiser, vocoder, sampling, training.

Saved as JSON inside each component's folder (``save_pretrained``) so a pipeline rebuilds
exactly; ``from_dict`` ignores unknown keys so older folders still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class MelConfig:
    """The log-mel spectrogram every AV-LDM part works in (fixed normalisation, never per clip)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 250  # 16 ms: 2 s = 128 frames
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float = 8000.0
    seconds: float = 2.0  # one generation window
    log_floor: float = 1e-5  # log(mel + floor): silence is about log(1e-5) = -11.5
    log_mean: float = -2.0  # normalised = (log_mel - log_mean) / log_std
    log_std: float = 3.0

    @property
    def frames(self) -> int:
        """Mel frames per window (the STFT's trailing centre frame is dropped)."""
        return int(round(self.seconds * self.sample_rate)) // self.hop

    @property
    def samples(self) -> int:
        return self.frames * self.hop


@dataclass(frozen=True)
class AutoencoderConfig:
    """Conv VAE: normalised log-mel (1, n_mels, T) <-> latent (C, n_mels/8, T/4)."""

    # measured on synth seed 0 (held-out class accuracy of real clips through the autoencoder
    # and Griffin-Lim; 0.91 without it): 8 channels 600 steps 0.59, 16 channels 600 steps 0.65,
    # 900 steps 0.65, 1200 steps 0.74
    latent_channels: int = 16
    width: int = 64
    kl_weight: float = 1e-4
    # L1 of the reconstruction's frame-to-frame changes against the target's: the plain L1
    # lets a decoder flicker around the right level, which a listener (and an onset
    # detector) hears as extra attacks. Synth seed 0, 1,200 steps, real held-out clips
    # through the autoencoder and the learned vocoder (onsets in sync / class accuracy /
    # Frechet): 0: 0.76 / 0.74 / 0.145; 1: 0.82 / 0.76 / 0.132; 3: 0.79 / 0.76 / 0.142
    temporal_weight: float = 1.0


@dataclass(frozen=True)
class DenoiserConfig:
    """Transformer over the latent's time steps; cross-attention to video + ambient tokens."""

    width: int = 192
    depth: int = 4
    heads: int = 4
    video_dim: int = 128  # per-frame MC3 video features
    video_frames: int = 16  # conditioning frames per window (8 fps)
    ambient_tokens: int = 8  # the ambient latent pooled to this many time tokens
    prediction_type: str = "v_prediction"  # what the network predicts (diffusers' name)


@dataclass(frozen=True)
class VocoderConfig:
    """Vocos-style: ConvNeXt blocks on the mel, then STFT magnitude + phase, inverse STFT."""

    width: int = 128
    depth: int = 6
    kind: str = "learned"  # "learned" or "griffin_lim"
    griffin_lim_iters: int = 32


@dataclass(frozen=True)
class OnsetConfig:
    """The onset predictor: when, from the picture alone, a window's sounds should start."""

    width: int = 128  # channels of its temporal convolutions over the video features
    steps: int = 3000  # training steps (batches of windows; under a minute on 2 cores)
    batch_size: int = 64
    # a high, unclipped learning rate: synth seed 0, 3,000 steps, held-out windows' real
    # onsets (mean F1 / share with F1 >= 0.5): 1e-3 clipped at norm 1: 0.42 / 0.50;
    # unclipped: 1e-3 0.45 / 0.56, 3e-3 0.48 / 0.56, 1e-2 0.49 / 0.60
    lr: float = 1e-2
    weight_decay: float = 1e-3
    positive_weight: float = 4.0  # onsets are rare among the time steps: weigh them up
    threshold: float = 0.5  # a predicted onset: a local peak of the probability this high


@dataclass(frozen=True)
class SamplingConfig:
    steps: int = 25
    guidance: float = 3.0  # classifier-free guidance scale
    scheduler: str = "dpm"  # "dpm" (DPM-Solver++) or "ddim"
    crossfade: float = 0.5  # seconds of overlap between windows of a long video
    # samples drawn per window; the one whose onsets best match those the onset predictor
    # expects from the picture is kept (1: the first sample, no predictor needed)
    candidates: int = 6


@dataclass(frozen=True)
class GeneratorTrainConfig:
    """How ``foley build`` trains the networks on the clip cache (but the onset predictor,
    ``OnsetConfig``)."""

    # its reconstructions bound what generation can reach (synth seed 0, temporal_weight 1,
    # real held-out clips through it: 1,200 steps onsets 0.82, class accuracy 0.76, Frechet
    # 0.132; 2,400 steps, two trainings: 0.85-0.91, 0.94, 0.052-0.055; 0.1 s a step on 2 cores)
    autoencoder_steps: int = 2400
    autoencoder_batch: int = 16  # full-resolution convs are the cost
    # seconds per autoencoder crop: it is fully convolutional, so a 1 s crop teaches it as
    # much as 2 s at half the cost (seed 0, 1200 steps: class accuracy through it 0.79 vs 0.74)
    autoencoder_crop: float = 1.0
    vocoder_steps: int = 400  # the loss plateaus by 400-500 steps (seed-0 crops)
    vocoder_batch: int = 16  # 1 s crops
    # synth seed 0, three sampling seeds each: 2,500 steps joint class accuracy 0.41, action
    # mode 0.33; 6,000 steps 0.44 and 0.48 (a denoiser step is ~0.13 s on 2 cores)
    denoiser_steps: int = 5000
    batch_size: int = 32  # denoiser windows (latents and features are precomputed)
    lr: float = 1e-3  # autoencoder and vocoder
    # measured on synth seed 0 (held-out class accuracy through Griffin-Lim): 1e-3 0.26, 2e-3 0.29
    denoiser_lr: float = 2e-3
    window_stride: float = 0.5  # training windows every this many seconds of each video
    ambient_neighbours: int = 3  # ambient drawn from this many windows on either side
    drop_ambient: float = 0.2  # condition dropout (classifier-free guidance)
    drop_video: float = 0.2
    holdout_fraction: float = 0.2  # videos kept out of training for `foley eval`
    # bfloat16 autocast for the autoencoder and the denoiser on CPUs that compute bfloat16
    # natively (``models.train.native_bf16``; elsewhere a no-op). 2 cores with
    # AVX512-BF16, seconds per step float32 -> bfloat16: denoiser 0.16 -> 0.13, autoencoder
    # 0.088 -> 0.065
    bf16: bool = True
    seed: int = 0
    # on a GPU the denoiser trains longer: on an H100 (synth seed 1), 17,320 steps at batch
    # 256 (6 min) took held-out class accuracy from 0.24 to 0.52 and onset sync 0.59 -> 0.72
    accelerated_denoiser_steps: int = 17000
    accelerated_batch_size: int = 256

    def accelerated(self) -> GeneratorTrainConfig:
        """These settings for a GPU: the denoiser trains ``accelerated_*`` long."""
        return replace(
            self,
            denoiser_steps=self.accelerated_denoiser_steps,
            batch_size=self.accelerated_batch_size,
        )


@dataclass(frozen=True)
class AVLDMConfig:
    mel: MelConfig = field(default_factory=MelConfig)
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)
    onsets: OnsetConfig = field(default_factory=OnsetConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    train: GeneratorTrainConfig = field(default_factory=GeneratorTrainConfig)
