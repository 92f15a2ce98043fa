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
    flip = torch.rand(B, generator=generator) < 0.5
    shifts = (torch.rand(B, 2, generator=generator) * 2 - 1) * MAX_SHIFT
    # a cheap translation: roll the frames (wrapping at the border), with the flip, as one
    # gather: output pixel (y, x) of clip i reads (y - dy_i, x - dx_i), mirrored if flipped
    dy, dx = (shifts[:, 0] * H).long(), (shifts[:, 1] * W).long()  # toward zero, as int()
    rows = (torch.arange(H)[None] - dy[:, None]) % H  # (B, H)
    cols = (torch.arange(W)[None] - dx[:, None]) % W  # (B, W)
    cols = torch.where(flip[:, None], W - 1 - cols, cols)
    clips = torch.arange(B)[:, None, None]
    x = frames[clips, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, F, 3)
    x = x.permute(0, 3, 1, 2, 4).float()
    contrast = 0.8 + 0.4 * torch.rand(B, 1, 1, 1, 1, generator=generator)
    brightness = 40 * torch.rand(B, 1, 1, 1, 1, generator=generator) - 20
    mean = x.mean(dim=(1, 2, 3, 4), keepdim=True)
    x = (x - mean) * contrast + mean + brightness
    return x.clamp(0, 255).to(torch.uint8)


def augment_audio(
    wave: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """float (B, N): per clip a random circular time shift, a small gain change, faint noise.
    -> (augmented wave, each clip's shift as a fraction of its length (B,))."""
    B, N = wave.shape
    offsets = torch.randint(0, N, (B, 1), generator=generator)
    x = roll_rows(wave, offsets)
    gain_db = (torch.rand(B, 1, generator=generator) * 2 - 1) * GAIN_DB
    noise = torch.randn(B, N, generator=generator) * NOISE_LEVEL
    return x * 10 ** (gain_db / 20) + noise, offsets[:, 0] / N


def shift_track(track: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """(B, L) a per-clip track over the clip's time -> rolled like its audio was by
    ``augment_audio`` (``shifts``: fractions of the clip), to the nearest of its steps."""
    return roll_rows(track, (shifts * track.shape[1]).round().long()[:, None])


def roll_rows(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """(B, N) -> row i read from ``offsets[i]`` (B, 1) on, wrapping around."""
    steps = x.shape[1]
    return x.gather(1, (torch.arange(steps)[None, :] + offsets) % steps)


def augment_batch(batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict:
    """The batch with augmented ``frames`` and ``audio`` (text untouched; a ``speech`` track
    over each clip's time is shifted with its audio); on CPU."""
    frames = augment_frames(batch["frames"], generator)
    audio, shifts = augment_audio(batch["audio"], generator)
    out = {**batch, "frames": frames, "audio": audio}
    if "speech" in batch:
        out["speech"] = shift_track(batch["speech"], shifts)
    return out
