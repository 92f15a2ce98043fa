"""Where is the sound? DenseAV heat maps per head for an audio clip and a frame.

``Localizer(model, head_names).locate(wave, frame)`` gives, per head, the heat map at the
frame's own size, its activation (the head's aggregated score), the peak and a box, plus a
strip over time; and ``heat``, the moment's map (the strongest head's, with the sound
heads' for a word: what ``foley eval`` scores, the strongest head naming the kind of
sound). With a speech gate (``DenseAVConfig.speech_gate``) each head's map and activation
weigh the audio steps by the head's share of them (the speech head: the gate's speech
probability; the sound heads: the rest), the strongest head is the one that owns most of
the moment, and the gate's track comes along.
The maps are blurred over the grid of cells, then made to follow the frame's edges.
``heat_box`` is the one rule that turns a heat map into a region (used by
``foley locate`` and by the evaluation alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from models.denseav import DenseAV

# A heat map's region: the cells at least this many standard deviations above the map's
# mean, around the peak: how far a map stands out of its background sets its own cut-off.
# Measured on raw maps (synth seed 0, three 1,500-step trainings, sound / word mIoU of the
# strongest head): mean + 1 std: 0.458 / 0.432, 0.406 / 0.377, 0.393 / 0.201; the rule it
# replaced, 0.15 of the way from the median to the peak: 0.436 / 0.430, 0.395 / 0.373,
# 0.365 / 0.197. On maps smoothed by a cell (``SMOOTHING``), three other seed-0 trainings,
# sound mIoU at 1 / 1.25 / 1.5 std: 0.486 / 0.500 / 0.493, 0.405 / 0.416 / 0.416, 0.364 /
# 0.392 / 0.397 (the centre prior's: 0.304 / 0.327 / 0.338).
REGION_SPREAD = 1.25
# How far each head's grid of cells is blurred before its map is drawn, in cells (a
# Gaussian's sigma): a lone cell that outshines its neighbours is less likely the thing than
# a patch of them. Measured (the same three trainings, blurring the frame-size map alike,
# which scores within 0.008 of this but costs a second a head on a 1080p frame; sound /
# word mIoU and pixel AP, raw maps at 1 std -> smoothed by 1 cell at 1.25 std): 0.438 /
# 0.424 -> 0.500 / 0.452 (AP 0.633 -> 0.728), 0.373 / 0.366 -> 0.416 / 0.377 (AP 0.549 ->
# 0.617), 0.359 / 0.215 -> 0.392 / 0.204 (AP 0.575 -> 0.623); raw at 1.25 std: 0.427 sound
# mIoU for the first; smoothed by 0.75 cells: 0.491, 0.416, 0.389. Sub-cell jittered views
# of the frame (the image net run on it shifted by half a cell, averaged) gained
# 0.004-0.013 raw, nothing smoothed.
SMOOTHING = 1.0
# Each head's map then follows the frame's own edges: a guided filter (He et al., 2013) with
# the frame as the guide, a window ``EDGE_RADIUS`` cells out from each pixel and
# ``EDGE_EPS`` the colour variance (of 0-1 colours) below which it smooths rather than
# keeps an edge. A cell is 4 model pixels (10 of a 160-pixel frame), too coarse to draw an
# object's outline; the frame has it (what FeatUp's joint-bilateral upsampling does to
# DenseAV's features, done here to the maps). Measured: see ``Localizer``.
EDGE_RADIUS = 1.8
EDGE_EPS = 2e-4
# The guided filter's work is done at most this many pixels on the frame's long side (the
# fast guided filter, He & Sun 2015): the maps' detail is a cell's, far coarser.
EDGE_WORK_SIDE = 320
SPEECH_HEAD = "speech"  # the name of a speech gate's head (``DenseAV.head_names``)


@dataclass
class HeadMap:
    head: int
    name: str  # "sound", "speech" or "head N"
    activation: float  # space pooled, mean over the chosen steps of the head's share of each
    share: float  # the head's mean share of the chosen steps (the speech gate's; else 1)
    peak: tuple[int, int]  # (x, y) in frame pixels
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in frame pixels, inclusive-exclusive
    heat: np.ndarray  # (H, W) raw similarities at the frame's size
    strip: np.ndarray  # (T,) the head's max over space per audio step

    def to_json(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "name": self.name,
            "activation": round(self.activation, 6),
            "share": round(self.share, 4),
            "peak": list(self.peak),
            "box": list(self.box),
            "strip": [round(float(x), 4) for x in self.strip],
        }


@dataclass
class Localization:
    frame: np.ndarray  # (H, W, 3) uint8, the frame the maps are drawn on
    heads: list[HeadMap]
    seconds: float  # the audio's length (the strips span it)
    span: tuple[float, float] | None  # the audio time the maps average over (None: all)
    speech: np.ndarray | None = None  # (T,) the speech gate's probability per audio step

    @property
    def heat(self) -> np.ndarray:
        """(H, W) where the moment's sound is: the strongest head's map; when that is the
        speech head, the mean of the sound heads' maps. The speech head tells that the
        moment is a word; where the word's thing is, the sound heads show better: a word is
        said over what is being done, and the speech head's map is unreliable: in some
        trainings it settles on the frame's edges (a spot in every frame serves it as well
        as any) and points away from the thing. Measured (synth seed 0, three trainings,
        word mIoU with the maps smoothed, mean of every head's map -> the sound head's):
        0.452 -> 0.469, 0.377 -> 0.345, 0.204 -> 0.380 (the speech head's alone: 0.393,
        0.278, 0.098); seed 1: 0.391 -> 0.373, 0.068 -> 0.365, 0.067 -> 0.367. Sounds
        (the strongest head nearly always the sound head) are unchanged."""
        strongest = self.strongest
        if strongest.name != SPEECH_HEAD:
            return strongest.heat
        sound = [head.heat for head in self.heads if head.name != SPEECH_HEAD]
        return np.mean(sound, axis=0)

    @property
    def strongest(self) -> HeadMap:
        """The head that owns most of the moment (with a speech gate: the speech head when
        the gate says speech), the most active among equals."""
        return max(self.heads, key=lambda h: (h.share, h.activation))

    def to_json(self) -> dict[str, Any]:
        """``peak`` and ``box``: those of ``heat`` (the moment's map); each head's are in
        ``heads``."""
        peak, box = heat_box(self.heat)
        return {
            "frame_size": [int(self.frame.shape[1]), int(self.frame.shape[0])],
            "seconds": self.seconds,
            "span": list(self.span) if self.span else None,
            "strongest_head": self.strongest.name,
            "peak": list(peak),
            "box": list(box),
            "speech": None if self.speech is None else [round(float(p), 4) for p in self.speech],
            "heads": [h.to_json() for h in self.heads],
        }


class Localizer:
    """A trained DenseAV and the names of its heads (see ``searchd.locate.head_names``).

    Each head's grid of cells is blurred by ``smoothing`` cells (``SMOOTHING``) before its
    map is drawn; with ``edges`` the drawn map then follows the frame's edges
    (``guided_filter``, ``EDGE_RADIUS``). Measured (synth seed 0, two trainings, sound /
    word mIoU and pixel AP, without -> with edges): 0.392 / 0.378 -> 0.425 / 0.413 (AP
    0.604 / 0.596 -> 0.642 / 0.650), 0.454 / 0.436 -> 0.466 / 0.457 (AP 0.668 / 0.647 ->
    0.687 / 0.664); windows 1.4 and 2.4 cells and eps 1e-4 to 5e-4 within 0.01 of these.

    With ``mirror`` (by default: when the model trained on mirrored frames too, see
    ``DenseAVConfig.mirror_frames``) the maps are the mean of the frame's and its mirror
    image's (flipped back): the image net is not mirror-symmetric, and what it sees in only
    one of the two is less likely the sounding thing. Measured (synth seed 0, four
    trainings, strongest head, without -> with): sound mIoU 0.236 -> 0.261, 0.211 -> 0.231,
    0.267 -> 0.276, 0.223 -> 0.276 (AP 0.316 -> 0.345, 0.284 -> 0.308, 0.370 -> 0.400,
    0.316 -> 0.391); word mIoU 0.270 -> 0.298, 0.208 -> 0.214, 0.211 -> 0.233, 0.194 -> 0.254.

    Each pass's maps are drawn from where the image net's cells are centred
    (``frame_heat``), and the mirror pass is flipped back in frame pixels. Plain bilinear
    upsampling had put the scratch net's maps 1.5 model pixels low and right of the cells
    (and the mirror pass 3 pixels beside the plain one). Measured (two seed-0 trainings,
    sound / word mIoU, before -> after): 0.401 / 0.387 -> 0.436 / 0.430 and 0.368 / 0.360
    -> 0.395 / 0.373 (pixel AP 0.610 -> 0.675, 0.546 -> 0.575).
    """

    def __init__(
        self,
        model: DenseAV,
        head_names: Sequence[str] | None = None,
        mirror: bool | None = None,
        smoothing: float = SMOOTHING,
        edges: bool = True,
    ) -> None:
        self.model = model.eval()
        self.mirror = model.config.mirror_frames if mirror is None else mirror
        self.smoothing, self.edges = smoothing, edges
        k = model.config.heads
        self.head_names = list(head_names or [f"head {i}" for i in range(k)])
        if len(self.head_names) != k:
            raise ValueError(f"{len(self.head_names)} head names for {k} heads")

    @torch.no_grad()
    def locate(
        self, wave: np.ndarray, frame: np.ndarray, span: tuple[float, float] | None = None
    ) -> Localization:
        """Heat maps of the clip audio ``wave`` (N,) in ``frame`` (H, W, 3) uint8.

        ``span`` (seconds within the audio) restricts the maps to that moment, e.g. a word.
        The audio is padded or cut to the model's clip length.
        """
        shape = self.model.config.clip
        audio = np.zeros(shape.audio_samples, np.float32)
        audio[: min(len(wave), len(audio))] = wave[: len(audio)]
        square = torch.from_numpy(resize_square(frame, shape.frame_size))
        a, speech_logits = self.model.encode_audio_and_speech(torch.from_numpy(audio)[None])
        # one pass over the frame, and one over its mirror image
        frames = torch.stack([square, square.flip(1)]) if self.mirror else square[None]
        v = self.model.encode_image(frames)  # (P, K, C, h, w)
        passes = self.model.similarity_volume(a.expand(len(v), *a.shape[1:]), v)
        volume = (passes[0] + passes[1].flip(-1)) / 2 if self.mirror else passes[0]  # (K, T, h, w)
        steps = slice(None)
        if span is not None:
            steps = self.model.audio_steps(span[0], span[1], shape.seconds, volume.shape[1])
        chosen = volume[:, steps]  # (K, T', h, w)
        speech = None if speech_logits is None else torch.sigmoid(speech_logits[0])  # (T,)
        shares = self.model.head_shares(
            None if speech is None else speech[steps], len(chosen), chosen.shape[1]
        )  # (K, T'): with a speech gate, each head's part of each step
        activations = (shares * self.model.pool_space(chosen)).mean(dim=1)  # (K,)
        weighted = (shares[..., None, None] * passes[:, :, steps]).sum(dim=2)  # (P, K, h, w)
        weighted = weighted / shares.sum(dim=1).clamp(min=1e-6)[:, None, None]
        weighted = smooth(weighted, self.smoothing)
        heat = frame_heat(weighted, frame.shape[:2], shape.frame_size, self.model.cell_offset())
        # the mirror image's maps are flipped back in frame pixels, where the cells line up
        heat = ((heat[0] + heat[1].flip(-1)) / 2 if self.mirror else heat[0]).numpy()  # (K, H, W)
        if self.edges:
            cell = (frame.shape[0] * frame.shape[1] / weighted[0, 0].numel()) ** 0.5  # pixels
            heat = guided_filter(frame, heat, EDGE_RADIUS * cell, EDGE_EPS)
        heads = []
        for k, name in enumerate(self.head_names):
            head_heat = heat[k]
            peak, box = heat_box(head_heat)
            heads.append(
                HeadMap(
                    head=k,
                    name=name,
                    activation=float(activations[k]),
                    share=float(shares[k].mean()),
                    peak=peak,
                    box=box,
                    heat=head_heat,
                    strip=volume[k].flatten(1).amax(1).numpy(),
                )
            )
        speech_strip = None if speech is None else speech.numpy()
        return Localization(frame, heads, shape.seconds, span, speech_strip)


def frame_heat(
    cells: torch.Tensor, size: tuple[int, int], frame_size: int, cell_offset: float
) -> torch.Tensor:
    """(N, K, h, w) cell maps of a ``frame_size`` square model frame -> (N, K, H, W) at a
    frame of ``size`` (H, W), bilinear between the cells' true centres (``cell_offset``:
    see ``DenseAV.cell_offset``), the nearest cell's value beyond them."""
    height, width = size

    def normalised(count: int) -> torch.Tensor:  # pixel centres -> grid_sample's [-1, 1]
        model_pixels = (torch.arange(count) + 0.5) * frame_size / count
        return 2 * (model_pixels - cell_offset) / frame_size - 1

    y, x = torch.meshgrid(normalised(height), normalised(width), indexing="ij")
    grid = torch.stack([x, y], dim=-1).expand(len(cells), height, width, 2)
    return F.grid_sample(cells, grid, mode="bilinear", padding_mode="border", align_corners=False)


def smooth(cells: torch.Tensor, sigma: float) -> torch.Tensor:
    """(..., h, w) cell maps blurred by a Gaussian ``sigma`` cells wide over the grid
    (reflected at its edges); 0: as they are."""
    if sigma <= 0:
        return cells
    sigmas = (0.0,) * (cells.ndim - 2) + (sigma, sigma)
    return torch.from_numpy(ndimage.gaussian_filter(cells.numpy(), sigmas))


def guided_filter(
    guide: np.ndarray,
    maps: np.ndarray,
    radius: float,
    eps: float,
    work_side: int = EDGE_WORK_SIDE,
) -> np.ndarray:
    """(K, H, W) maps made to follow the edges of the (H, W, 3) uint8 ``guide`` frame: He et
    al.'s guided filter with a colour guide. Each pixel's value becomes a linear function of
    its colour, fitted to the map over windows ``radius`` pixels out; where the colour is
    flat (variance below ``eps``) the map is smoothed, across an edge it is not. Linear in
    the maps, so their level and scale are kept. Frames over ``work_side`` pixels are fitted
    at that size and the fit applied at full size (the fast guided filter)."""
    height, width = maps.shape[-2:]
    image = torch.from_numpy(np.ascontiguousarray(guide)).permute(2, 0, 1)[None].float() / 255
    scale = min(1.0, work_side / max(height, width))
    small = (max(1, round(height * scale)), max(1, round(width * scale)))
    fit_image = F.interpolate(image, size=small, mode="area") if scale < 1 else image
    fit_maps = torch.from_numpy(np.ascontiguousarray(maps, np.float32))[None]
    fit_maps = F.interpolate(fit_maps, size=small, mode="area") if scale < 1 else fit_maps
    colour = fit_image[0].numpy().astype(np.float64)  # (3, h, w)
    values = fit_maps[0].numpy().astype(np.float64)  # (K, h, w)
    size = 2 * max(1, round(radius * scale)) + 1

    def window_mean(x: np.ndarray) -> np.ndarray:  # (..., h, w): each pixel's window's mean
        return ndimage.uniform_filter(x, size=(1,) * (x.ndim - 2) + (size, size), mode="reflect")

    mean_colour = window_mean(colour)  # (3, h, w)
    covariance = window_mean(colour[:, None] * colour[None]) - mean_colour[:, None] * mean_colour
    inverse = np.linalg.inv((covariance + eps * np.eye(3)[..., None, None]).transpose(2, 3, 0, 1))
    mean_values = window_mean(values)  # (K, h, w)
    # (K, 3, h, w): each map's covariance with each colour channel
    cross = window_mean(values[:, None] * colour) - mean_values[:, None] * mean_colour
    slope = np.einsum("hwij,kjhw->kihw", inverse, cross)  # (K, 3, h, w)
    offset = mean_values - (slope * mean_colour).sum(1)  # (K, h, w)
    slope, offset = window_mean(slope), window_mean(offset)
    if scale < 1:
        up = {"size": (height, width), "mode": "bilinear", "align_corners": False}
        slope = F.interpolate(torch.from_numpy(slope), **up).numpy()
        offset = F.interpolate(torch.from_numpy(offset)[None], **up)[0].numpy()
    return ((slope * image[0].numpy()).sum(1) + offset).astype(np.float32)


def heat_box(heat: np.ndarray) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The peak (x, y) and the box around the connected region that holds it."""
    mask = heat_region(heat)
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    ys, xs = np.nonzero(mask)
    return (int(x), int(y)), (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def heat_region(heat: np.ndarray, spread: float = REGION_SPREAD) -> np.ndarray:
    """Boolean (H, W): the connected cells >= ``spread`` standard deviations above the map's
    mean (or at its peak, if that is lower), at the peak."""
    if float(heat.std()) < 1e-9:
        return np.ones(heat.shape, bool)
    cut = min(float(heat.mean() + spread * heat.std()), float(heat.max()))
    labels, _ = ndimage.label(heat >= cut)
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return labels == labels[peak]


def resize_square(frame: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8, squashed like the clip cache's frames."""
    if frame.shape[:2] == (size, size):
        return frame
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(size, size), mode="area")  # as the clip cache (AREA)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
