"""Typed configuration of DenseAV (dense audio-visual localisation) and its training run.

Like MC3's: a JSON file in ``models/configs/`` (``denseav-small.json``) plus weights; the
checkpoint carries the config so the model rebuilds exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from models.config import AudioTowerConfig, ClipShape


@dataclass(frozen=True)
class ImageBackboneConfig:
    """``scratch``: a small conv net; ``open_clip``: a CLIP ViT's patch tokens as the grid."""

    kind: Literal["scratch", "open_clip"] = "scratch"
    width: int = 64
    depth: int = 2  # stride-1 convs after the scratch net's two stride-2 ones (RF 7 + 8 each)
    open_clip_model: str | None = None
    open_clip_pretrained: str | None = None  # a pretrained tag or a local checkpoint path
    trainable: bool = False  # fine-tune the open_clip backbone (else only the 1x1 head)


@dataclass(frozen=True)
class DenseAVConfig:
    """``aggregation``: ``max`` (max over space, mean over time: the paper's) or ``mean``
    (mean over space and time: the baseline it beats); heads are combined by their max."""

    dim: int = 64  # feature channels of a(t) and v(h, w), split evenly into the heads
    heads: int = 2
    clip: ClipShape = field(default_factory=ClipShape)
    image: ImageBackboneConfig = field(default_factory=ImageBackboneConfig)
    audio: AudioTowerConfig = field(default_factory=AudioTowerConfig)
    aggregation: Literal["max", "mean"] = "max"
    # with "max": the mean of this many best cells (1: the paper's max). A max trains one
    # cell per pair, so the maps peak on the object's most telling part and leak along the
    # arm and the scene's edges; the mean of the best few trains a patch about an object's
    # size (synth seed 0, 500 steps, sound mIoU per training: 1: 0.17, 0.19, 0.25; 6: 0.34;
    # 12: 0.38, 0.31, 0.34; 24: 0.23. Seeds 1-3, about the same: 1: 0.36, 0.29 / 0.28 /
    # 0.26; 12: 0.31, 0.29 / 0.28 / 0.26)
    space_top: int = 1
    # start the audio conv stack from the home's MC3 audio tower (when the shapes agree and
    # audio.checkpoint names nothing else): it already tells the corpus's sounds apart
    audio_from_mc3: bool = True
    temperature: float = 1.0  # initial temperature of the learned similarity scale
    # "video": a clip's negatives are the other clips of its own video in the batch, which
    # share its scene, light and ambience, so only the sounding thing tells them apart.
    # "batch": every other clip; the frame's scene then matches the audio's ambience and
    # the maps light up scene texture (synth seed 0, 2 trainings each, 500 steps: peak
    # in the box 0.26 / 0.19 with "batch", 0.63 / 0.63 with "video").
    negatives: Literal["batch", "video"] = "video"
    # L2-normalise each image cell's feature per head; off: a cell's norm says how much
    # "something is here", so the max over space can ignore a plain background
    normalize_image: bool = False
    # subtract each frame's mean feature from its cells: what the whole frame shares (the
    # scene, the light) cancels, what stands out at a place (an object) remains
    center_image: bool = True
    # penalise two heads firing on the same place at the same time (the paper's regulariser;
    # its scale follows the similarities', so the shipped configs set it). Measured with
    # same-video negatives (synth seed 0, training seeds 0 and 1, 500 steps;
    # peak in the box for sounds / words): 0: 0.52 / 0.54, 0.62 / 0.52; 0.1: 0.81 / 0.65,
    # 0.70 / 0.76 (mIoU 0.18 / 0.18, 0.26 / 0.23 -> 0.31 / 0.28, 0.26 / 0.26). The heads
    # still do not split into sound and speech.
    head_overlap_weight: float = 0.0
    # each head's own InfoNCE (its share of the loss): with the max over heads alone, a head
    # that loses early never wins a pair again and never learns (a dead head)
    per_head_weight: float = 0.5
    # the step mirrors half the frames, so the image net knows mirrored scenes whatever
    # TrainConfig.augment says (its flips, when on, leave the odds at one half), and the
    # heat maps can be averaged with the mirror image's (``searchd.localize.Localizer``)
    mirror_frames: bool = True
    # A speech gate: a small net on the audio conv stack that says, per audio step, how
    # likely the sound is speech (g). It learns from a voice-activity detector's track of the
    # training audio (``speech_targets``), so no labels are used. Then the last head is the
    # speech head and the others the sound heads: a step's score is
    # (1 - g) max_sound s + g s_speech, and a head's activation weighs its steps by its share.
    # Without it the heads are unnamed and, measured, never split into sound and speech.
    speech_gate: bool = False
    speech_gate_weight: float = 1.0  # of the gate's binary cross-entropy in the loss
    # a step is speech when the detector's peak in it is above this. Measured (synth seed 0,
    # Silero VAD): its peak over a spoken word passes 0.3 for 65% of the words, 0.1 for 80%;
    # over action sounds, 0.2% and 1.1% of the steps. Trained with 0.3 -> 0.1 (1,500 steps),
    # the gate called 61% -> 89% of the words speech, mIoU sound 0.35 -> 0.40, words 0.17
    # -> 0.39
    speech_threshold: float = 0.1
    speech_positive_weight: float = 10.0  # speech steps are rare (~2% of the corpus's time)
