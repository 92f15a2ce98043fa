"""When sounds start in a clip's audio: the onset detector behind ``foley eval``'s onset
sync (``searchd.generation_metrics``), the targets AV-LDM's onset predictor learns from, and
the check that keeps, among a window's generated samples, the one in time with the picture.

Levels are 64 mel bands in dB (``log_mel``), independent of the sample rate up to 8 kHz.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter

FRAME_SECONDS = 0.025  # analysis window
HOP_SECONDS = 0.010
N_MELS = 64
MAX_HZ = 8000.0  # mel bands stop here, so 16 kHz and 48 kHz audio get the same bands
FLOOR_DB = -80.0  # band level of white noise at -80 dBFS: anything quieter counts as silence
OVER_BACKGROUND_DB = 12.0  # only rises above background + this count: noise never gets there
FLUX_LAG = 3  # frames: a frame's rise is measured against the frame 30 ms before
PEAK_RADIUS = 0.03  # seconds: an onset is the largest flux within this distance
FLUX_OVER_MEDIAN = 3.0  # an onset's flux is this many times the median flux around it ...
MEDIAN_SECONDS = 0.25  # ... within this distance (so a noisy sound's flicker is no onset) ...
MIN_FLUX_DB = 0.2  # ... and at least this many dB (mean over the bands)
ONSET_DELAY = 0.005  # seconds from a flux frame's start to the onset it reports
BACKGROUND_PERCENTILE = 20.0  # a band's background: this percentile of its levels over time


def log_mel(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """(T, 64) band levels in dB of 25 ms Hann frames every 10 ms, floored at ``FLOOR_DB``.

    A band's level is the mean power spectral density over its triangle, scaled so that white
    noise of RMS r reads 20 log10(r) in every band.
    """
    frame = int(round(FRAME_SECONDS * sample_rate))
    hop = int(round(HOP_SECONDS * sample_rate))
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    if len(wave) < frame:
        wave = np.pad(wave, (0, frame - len(wave)))
    window = np.hanning(frame)
    frames = np.lib.stride_tricks.sliding_window_view(wave, frame)[::hop] * window  # (T, frame)
    n_fft = 2 * 2 ** int(np.ceil(np.log2(frame)))  # zero-padded: bins finer than any band
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2 / np.sum(window**2)  # (T, n_fft/2 + 1)
    bands = power @ _mel_filters(sample_rate, n_fft).T  # (T, 64)
    return 10 * np.log10(bands + 10 ** (FLOOR_DB / 10))


def _mel_filters(sample_rate: int, n_fft: int) -> np.ndarray:
    """(64, n_fft/2 + 1) unit-sum triangles evenly spaced on the HTK mel scale, 0 Hz-8 kHz."""
    top = 2595 * np.log10(1 + min(MAX_HZ, sample_rate / 2) / 700)
    edges = 700 * (10 ** (np.linspace(0, top, N_MELS + 2) / 2595) - 1)  # Hz
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    return tri / tri.sum(1, keepdims=True)


def onset_times(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Seconds at which a sound starts in ``wave`` (mono): impacts, clicks, bursts, swells.

    Spectral flux of the log-mel levels (smoothed over two frames): each band's rise over the
    frame 30 ms before, counted only above the band's background (its 20th percentile) plus
    ``OVER_BACKGROUND_DB``, half-wave rectified and averaged over the bands; so stationary
    noise, however loud, and anything near the ``FLOOR_DB`` floor give no onsets. An onset is
    the largest flux within 30 ms that is at least ``MIN_FLUX_DB`` and ``FLUX_OVER_MEDIAN``
    times the median flux of the 0.5 s around it, so the flicker inside a loud noisy sound
    is not taken for onsets. A sound already playing at the first sample has no onset.
    """
    levels = log_mel(wave, sample_rate)  # (T, 64)
    smooth = levels.copy()
    smooth[1:] = (levels[1:] + levels[:-1]) / 2
    loud = np.percentile(levels, BACKGROUND_PERCENTILE, axis=0) + OVER_BACKGROUND_DB  # (64,)
    flux = np.zeros(len(levels))  # (T,)
    if len(levels) > FLUX_LAG:
        rise = smooth[FLUX_LAG:] - np.maximum(smooth[:-FLUX_LAG], loud)
        flux[FLUX_LAG:] = np.clip(rise, 0, None).mean(1)
    around = 2 * int(round(MEDIAN_SECONDS / HOP_SECONDS)) + 1
    threshold = np.maximum(
        FLUX_OVER_MEDIAN * median_filter(flux, around, mode="reflect"), MIN_FLUX_DB
    )  # (T,)
    radius = int(round(PEAK_RADIUS / HOP_SECONDS))
    peaks = np.flatnonzero((flux >= threshold) & (flux == maximum_filter1d(flux, 2 * radius + 1)))
    kept: list[int] = []
    for peak in peaks:  # equal neighbours of a plateau count once
        if not kept or peak - kept[-1] > radius:
            kept.append(int(peak))
    hop = int(round(HOP_SECONDS * sample_rate))
    return np.asarray(kept, dtype=np.float64) * hop / sample_rate + ONSET_DELAY


def onset_match(detected: Sequence[float], truth: Sequence[float], tolerance: float = 0.2) -> float:
    """F1 of detected against true onset times (seconds), paired one-to-one greedily, closest
    pairs first, within ``tolerance``: 2 * matched / (detected + true). 0 when either is empty.
    """
    d, t = np.asarray(detected, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if len(d) == 0 or len(t) == 0:
        return 0.0
    gap = np.abs(d[:, None] - t[None, :])  # (detected, true)
    used_d, used_t = set(), set()
    for i, j in zip(
        *np.unravel_index(np.argsort(gap, axis=None, kind="stable"), gap.shape), strict=True
    ):
        if gap[i, j] > tolerance:
            break
        if i not in used_d and j not in used_t:
            used_d.add(i)
            used_t.add(j)
    return 2 * len(used_d) / (len(d) + len(t))


def onset_agreement(found: Sequence[float], wanted: Sequence[float]) -> float:
    """How well onsets ``found`` (seconds) agree with those ``wanted``: their F1 within 0.2 s
    (``onset_match``); when none are wanted, minus the number found (the fewer the better)."""
    return onset_match(found, wanted) if len(wanted) else -float(len(found))
