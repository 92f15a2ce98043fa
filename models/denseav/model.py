"""DenseAV (Hamilton et al., CVPR 2024): dense audio and image features whose similarity
volume says where in the frame each moment of sound is.

Shapes: B clips, K heads, C = dim / K channels per head, T audio steps, H x W image grid.

    a = encode_audio(wave)       # (B, K, C, T)     L2-normalised per head and step
    v = encode_image(frame)      # (B, K, C, H, W)  L2-normalised per head and cell
    s_k(t, h, w) = <a_k(t), v_k(h, w)>              # similarity_volume
    score = mean_t max_k max_hw s_k(t, h, w)        # aggregate ("max"; "mean": mean_t mean_hw)

``space_top`` > 1 replaces max_hw by the mean of that many best cells (the shipped config: 12).

With ``speech_gate`` a small net on the audio says how likely each step is speech, g(t), and
the last head is the speech head: score = mean_t [(1 - g) max_{k<K-1} S_k + g S_{K-1}], where
S_k(t) is head k's space-pooled similarity; head k's activation is mean_t w_k(t) S_k(t) with
w = g for the speech head and 1 - g for the sound heads.

Training is a symmetric temperature-scaled InfoNCE over the B x B clip-vs-frame scores
(``losses.denseav_loss``; by default each clip's negatives are the clips of its own video).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.denseav.backbones import AudioBackbone, OpenClipImageBackbone, ScratchImageBackbone
from models.denseav.config import DenseAVConfig

MAX_LOGIT_SCALE = 100.0
GATE_WIDTH = 64  # hidden channels of the speech gate


class DenseAV(nn.Module):
    kind = "denseav"

    def __init__(self, config: DenseAVConfig):
        super().__init__()
        if config.dim % config.heads:
            raise ValueError(f"dim {config.dim} does not split into {config.heads} heads")
        if config.space_top < 1:
            raise ValueError(f"space_top must be at least 1 cell, not {config.space_top}")
        self.config = config
        self.version: str | None = None
        if config.image.kind == "scratch":
            self.image = ScratchImageBackbone(config.image.width, config.dim, config.image.depth)
        elif config.image.open_clip_model:
            self.image = OpenClipImageBackbone(
                config.image.open_clip_model,
                config.image.open_clip_pretrained,
                config.dim,
                config.image.trainable,
            )
        else:
            raise ValueError("image.kind 'open_clip' needs image.open_clip_model")
        self.audio = AudioBackbone(config.audio, config.clip, config.dim)
        self.speech_gate: nn.Module | None = None
        if config.speech_gate:
            if config.heads < 2:
                raise ValueError("a speech gate needs at least 2 heads (sound and speech)")
            bands = 2 * config.audio.width * (config.audio.n_mels // 16)
            self.speech_gate = nn.Sequential(
                nn.Conv1d(bands, GATE_WIDTH, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv1d(GATE_WIDTH, 1, 1),
            )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature)))

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def external_prefixes(self) -> list[str]:
        """State-dict prefixes of frozen backbones whose weights come from elsewhere."""
        if self.config.image.kind == "open_clip" and not self.config.image.trainable:
            return ["image.visual."]
        return []

    def scale(self) -> torch.Tensor:
        """The learned similarity scale (1 / temperature), clamped to [1, 100]."""
        return self.logit_scale.exp().clamp(1.0, MAX_LOGIT_SCALE)

    # --- features -----------------------------------------------------------------------
    def encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        """16 kHz waveform (B, N) -> a (B, K, C, T)."""
        return self.encode_audio_and_speech(wave)[0]

    def encode_audio_and_speech(
        self, wave: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """16 kHz waveform (B, N) -> a (B, K, C, T) and the speech gate's logits (B, T)
        (None without a gate)."""
        x, bands = self.audio(wave.to(self.device))  # (B, dim, T), (B, bands, T)
        a = F.normalize(x.unflatten(1, (self.config.heads, -1)), dim=2)  # (B, K, C, T)
        if self.speech_gate is None:
            return a, None
        return a, self.speech_gate(bands)[:, 0]

    def head_names(self) -> list[str] | None:
        """With a speech gate: "sound" (or "sound 1", "sound 2", ...) and last "speech"."""
        if self.speech_gate is None:
            return None
        sound = self.config.heads - 1
        names = ["sound"] if sound == 1 else [f"sound {i + 1}" for i in range(sound)]
        return [*names, "speech"]

    def cell_offset(self) -> float:
        """Where the image grid's cell centres sit, in pixels of the model's frame, relative
        to an even split of the frame into cells (what plain bilinear upsampling assumes)."""
        return float(self.image.cell_offset)

    def encode_image(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, H, W, 3) -> v (B, K, C, h, w)."""
        x = self.image(frames.to(self.device))  # (B, dim, h, w)
        if self.config.center_image:
            x = x - x.mean(dim=(2, 3), keepdim=True)
        x = x.unflatten(1, (self.config.heads, -1))  # (B, K, C, h, w)
        return F.normalize(x, dim=2) if self.config.normalize_image else x

    # --- similarity ---------------------------------------------------------------------
    @staticmethod
    def similarity_volume(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Paired clips: s (B, K, T, h, w) = <a_k(t), v_k(h, w)>."""
        return torch.einsum("bkct,bkchw->bkthw", a, v)

    @staticmethod
    def pairwise_volume(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Every audio against every frame: (Ba, Bv, K, T, h, w)."""
        return torch.einsum("ikct,jkchw->ijkthw", a, v)

    def pairwise_scores(
        self, a: torch.Tensor, v: torch.Tensor, speech: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Every audio against every frame: (Ba, Bv) aggregated scores (see module doc);
        ``speech``: the audio's gate probabilities g (Ba, T), if the model has a gate."""
        return self.aggregate(
            self.pairwise_volume(a, v), None if speech is None else speech[:, None]
        )

    def aggregate(self, s: torch.Tensor, speech: torch.Tensor | None = None) -> torch.Tensor:
        """(..., K, T, h, w) -> (...): space pooled (max or mean), heads combined, time
        mean; ``speech`` (..., T): the gate's g (see ``combine_heads``)."""
        return self.combine_heads(self.pool_space(s), speech)

    def pool_space(self, s: torch.Tensor) -> torch.Tensor:
        """(..., K, T, h, w) -> (..., K, T): max (or mean, or mean of the ``space_top``
        best) over the image cells.

        ``max`` picks one cell by index, so its gradient is a scatter into that cell, not
        a mask over the whole volume (what ``amax`` builds; several times slower here).
        """
        if self.config.aggregation == "max":
            cells = s.flatten(-2)
            top = min(self.config.space_top, cells.shape[-1])
            if top > 1:
                return cells.topk(top, dim=-1).values.mean(dim=-1)
            return cells.max(dim=-1).values
        return s.mean(dim=(-2, -1))

    @staticmethod
    def combine_heads(space: torch.Tensor, speech: torch.Tensor | None = None) -> torch.Tensor:
        """(..., K, T) -> (...): max over heads, mean over time. With the gate's speech
        probabilities ``speech`` (..., T): (1 - g) max over the sound heads + g speech head."""
        if speech is None:
            return space.max(dim=-2).values.mean(dim=-1)
        # the shares are >= 0 and the sound heads share alike, so this is (1 - g) max S_sound
        weighted = DenseAV.head_shares(speech, *space.shape[-2:]) * space  # (..., K, T)
        return (weighted[..., :-1, :].max(dim=-2).values + weighted[..., -1, :]).mean(dim=-1)

    @staticmethod
    def head_shares(speech: torch.Tensor | None, heads: int, steps: int) -> torch.Tensor:
        """(..., T) gate probabilities -> (..., K, T): each head's share of each step (g for
        the speech head, 1 - g for the sound heads; all 1 without a gate: ``speech`` None)."""
        if speech is None:
            return torch.ones(heads, steps)
        sound = (1 - speech).unsqueeze(-2).expand(*speech.shape[:-1], heads - 1, steps)
        return torch.cat([sound, speech.unsqueeze(-2)], dim=-2)

    # --- localisation -------------------------------------------------------------------
    def audio_steps(self, start: float, end: float, seconds: float, steps: int) -> slice:
        """The audio time steps (of ``steps`` over ``seconds``) that overlap [start, end)."""
        first = max(0, min(steps - 1, int(start / seconds * steps)))
        last = max(first + 1, min(steps, math.ceil(end / seconds * steps)))
        return slice(first, last)
