"""A voice that says an object's name: espeak-ng when installed, else a formant pseudo-voice.

DenseAV's speech head needs spoken words that name what is on screen ("onion" while the
onion is cut). ``speech_engine()`` says which voice this machine gives, and the corpus
records it in labels.json, so a figure measured on the fallback is never taken for one
measured on real synthetic speech.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import wave

import numpy as np
from scipy.signal import lfilter, resample_poly

from .sound import SR, filtered, rms

ESPEAK = "espeak-ng"


@functools.lru_cache(maxsize=1)
def speech_engine() -> str:
    """``"espeak-ng"`` if the binary is on PATH and speaks, else ``"formant-fallback"``."""
    if shutil.which(ESPEAK) is None:
        return "formant-fallback"
    try:
        _espeak("test")
    except (OSError, subprocess.SubprocessError, wave.Error, ValueError):
        return "formant-fallback"
    return ESPEAK


@functools.cache
def spoken_word(word: str) -> np.ndarray:
    """``word`` said once, 16 kHz mono, silence trimmed, RMS 1 (synthesised once per process)."""
    voice = _espeak(word) if speech_engine() == ESPEAK else _formant_voice(word)
    loud = np.flatnonzero(np.abs(voice) > 0.05 * np.abs(voice).max())
    margin = int(0.01 * SR)
    voice = voice[max(0, loud[0] - margin) : loud[-1] + margin]
    voice = voice / rms(voice)
    voice.setflags(write=False)
    return voice


def _espeak(word: str) -> np.ndarray:
    wav = subprocess.run(
        [ESPEAK, "-v", "en", "-s", "150", "--stdout", word],
        capture_output=True,
        check=True,
        timeout=20,
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate, width = reader.getframerate(), reader.getsampwidth()
        # espeak-ng writes a streaming header with a bogus length: read whatever is there
        data = reader.readframes(1 << 30)
    if width != 2 or not data:
        raise ValueError(f"unexpected espeak-ng output ({width}-byte samples, {len(data)} bytes)")
    samples = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
    return resample_poly(samples, SR, rate)


# (F1, F2, F3) Hz of a few vowels, and the consonants the fallback tells apart
_VOWELS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (270, 2290, 3010),
    "o": (570, 840, 2410),
    "u": (300, 870, 2240),
    "y": (270, 2290, 3010),
}
_VOICED = set("bdglmnrvwz")
_FRICATIVES = {
    "s": (4000, 7000),
    "z": (4000, 7000),
    "f": (2000, 6000),
    "h": (800, 3000),
    "c": (3000, 6000),
    "x": (3000, 6000),
    "j": (2500, 5000),
}


def _formant_voice(word: str) -> np.ndarray:
    """A pseudo-word: a voiced source through vowel formants, noise for fricatives and stops.

    Not speech, but a different, repeatable, speech-like pattern for every word.
    """
    rng = np.random.default_rng(sum(map(ord, word)))
    segments = []
    for letter in word.lower():
        if letter in _VOWELS:
            segments.append(_voiced(0.12, _VOWELS[letter]))
        elif letter in _VOICED:
            segments.append(0.5 * _voiced(0.06, (250, 1000, 2200)))
        elif letter in _FRICATIVES:
            n = int(0.09 * SR)
            segments.append(
                0.3
                * filtered(rng.standard_normal(n), _FRICATIVES[letter], "bandpass")
                * np.hanning(n)
            )
        elif letter.isalpha():  # a stop: silence then a short burst
            n = int(0.02 * SR)
            burst = filtered(rng.standard_normal(n), [1500, 5000], "bandpass") * np.hanning(n)
            segments.append(np.concatenate([np.zeros(int(0.03 * SR)), 0.4 * burst]))
    voice = np.concatenate(segments) if segments else np.zeros(int(0.2 * SR))
    t = np.arange(len(voice)) / SR
    return voice * (1.0 - 0.3 * t / max(t[-1], 1e-3))  # falling loudness, like a statement


def _voiced(seconds: float, formants: tuple[float, float, float]) -> np.ndarray:
    """A glottal pulse train (f0 ~ 120 Hz) through three formant resonators, hann-windowed."""
    n = int(seconds * SR)
    period = SR / 120.0
    source = np.zeros(n)
    source[(np.arange(0, n, period)).astype(int)] = 1.0
    out = source
    for freq, bandwidth in zip(formants, (80, 100, 120), strict=True):
        r = np.exp(-np.pi * bandwidth / SR)
        theta = 2 * np.pi * freq / SR
        out = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], out)
    return out / (np.abs(out).max() + 1e-9) * np.hanning(n)
