"""What AV-LDM sees of a video: per-frame features, time-aligned, from the MC3 video tower.

For each conditioning frame: the tower's feature of that frame (before it pools over time),
the clip's MC3 video embedding (the shared audio-video space, so "which sound" is explicit),
and a coarse motion map (mean absolute frame difference per cell of a 4x4 grid), which
marks when things move, and so when contacts can happen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.mc3 import MC3

MOTION_GRID = 4
MOTION_GAIN = 10.0  # frame differences are small; bring them near unit scale


def motion_map(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (B, F, H, W, 3) -> (B, F, MOTION_GRID**2): mean |difference to the previous
    frame| per grid cell (0 for the first frame)."""
    x = frames.float().mean(dim=-1) / 255.0  # (B, F, H, W) grey
    diff = torch.zeros_like(x)
    diff[:, 1:] = (x[:, 1:] - x[:, :-1]).abs()
    cells = F.adaptive_avg_pool2d(diff, MOTION_GRID)  # (B, F, g, g)
    return cells.flatten(2) * MOTION_GAIN


@torch.no_grad()
def video_condition(mc3: MC3, frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (B, F, H, W, 3) -> (B, F, D + E + 16) conditioning features."""
    mc3.eval()
    frames = frames.to(mc3.device)
    per_frame = mc3.encode_video_frames(frames)  # (B, F, D)
    step = max(1, frames.shape[1] // mc3.config.clip.frames)  # the tower's own frame rate
    clip = mc3.encode_video(frames[:, step // 2 :: step])  # (B, E)
    clip = clip[:, None].expand(-1, frames.shape[1], -1)
    return torch.cat([per_frame, clip, motion_map(frames)], dim=-1).cpu()
