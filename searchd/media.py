"""A clip's media as the HTTP service sends it: WAV sound, PNG thumbnail, video content type.

Everything is cut from the clip cache (16 kHz mono audio, small square frames), never decoded
from the source video per request.
"""

from __future__ import annotations

import io
import mimetypes
import wave
from pathlib import Path

import numpy as np
from PIL import Image

from indexer.cache import CachedVideo

THUMBNAIL_PIXELS = 192  # thumbnails are upscaled to about this width
VIDEO_TYPES = {  # mimetypes lacks some of these on minimal systems
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
}


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """(N,) float audio in [-1, 1] as a 16-bit mono WAV file."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def clip_wav(cached: CachedVideo, start: float, end: float) -> bytes:
    """The clip's sound as a 16-bit mono WAV file."""
    return wav_bytes(cached.clip_audio(start, end), cached.sample_rate)


def clip_thumbnail(cached: CachedVideo, start: float, end: float) -> bytes:
    """The clip's middle frame as a PNG, enlarged (nearest pixel) to about 192 px wide."""
    frame = cached.clip_frames(start, end, 1)[0]  # (S, S, 3) uint8
    scale = max(1, round(THUMBNAIL_PIXELS / frame.shape[1]))
    enlarged = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(enlarged)).save(buffer, format="PNG")
    return buffer.getvalue()


def video_media_type(path: Path) -> str:
    """The Content-Type of a video file, by its suffix."""
    suffix = path.suffix.lower()
    return (
        VIDEO_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
