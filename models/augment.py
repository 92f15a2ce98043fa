"""Training-time augmentation of a batch, so that the model cannot simply memorise clips.

Memorisation matters for MC3 beyond overfitting: the consensus agreement is measured on
training batches, and once every clip's audio identifies its own narration by heart, silent
actions look as "agreeing" as sounding ones. Augmentations keep what the clip is about
(the action, its sound, the scene, the loudness up to a few dB) and vary the rest.
"""

from __future__ import annotations

import torch

MAX_SHIFT = 0.125  # of the frame size
GAIN_DB = 3.0  # audio gain jitter, +-dB (small: loudness carries information)
NOISE_LEVEL = 0.003  # white noise std added to the waveform (about -50 dBFS)


def augment_frames(frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 (B, F, H, W, 3): per clip a random flip, translation and brightness/contrast."""
    B, _, H, W, _ = frames.shape
    x = frames.float()
    flip = torch.rand(B, generator=generator) < 0.5
    x[flip] = x[flip].flip(3)
    shifts = (torch.rand(B, 2, generator=generator) * 2 - 1) * MAX_SHIFT
    for i in range(B):  # a cheap translation: roll the frames (wrapping at the border)
        dy, dx = int(shifts[i, 0] * H), int(shifts[i, 1] * W)
        x[i] = x[i].roll((dy, dx), dims=(1, 2))
    contrast = 0.8 + 0.4 * torch.rand(B, 1, 1, 1, 1, generator=generator)
    brightness = 40 * torch.rand(B, 1, 1, 1, 1, generator=generator) - 20
    mean = x.mean(dim=(1, 2, 3, 4), keepdim=True)
    x = (x - mean) * contrast + mean + brightness
    return x.clamp(0, 255).to(torch.uint8)


def augment_audio(wave: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """float (B, N): per clip a random circular time shift, a small gain change, faint noise."""
    B, N = wave.shape
    offsets = torch.randint(0, N, (B, 1), generator=generator)
    index = (torch.arange(N)[None, :] + offsets) % N  # (B, N)
    x = wave.gather(1, index)
    gain_db = (torch.rand(B, 1, generator=generator) * 2 - 1) * GAIN_DB
    noise = torch.randn(B, N, generator=generator) * NOISE_LEVEL
    return x * 10 ** (gain_db / 20) + noise


def augment_batch(batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict:
    """The batch with augmented ``frames`` and ``audio`` (text untouched); on CPU."""
    return {
        **batch,
        "frames": augment_frames(batch["frames"], generator),
        "audio": augment_audio(batch["audio"], generator),
    }
