"""DenseAV: dense audio-visual localisation with sound and speech heads."""

from models.denseav.config import DenseAVConfig, ImageBackboneConfig
from models.denseav.losses import denseav_loss
from models.denseav.model import DenseAV

__all__ = ["DenseAV", "DenseAVConfig", "ImageBackboneConfig", "denseav_loss"]
