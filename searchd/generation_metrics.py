"""Metrics of generated sound (pure functions): how real, which action, in sync, which room.

``foley eval``'s generation part reads these: the Frechet distance between real and generated
audio embeddings, the action-class accuracy a linear probe trained on real embeddings gives
the generated ones, how many clips have their sound onsets where the action's contacts are,
and how well the stationary background matches the conditioning clip's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.linalg import sqrtm
from scipy.ndimage import maximum_filter1d, median_filter

FRAME_SECONDS = 0.025  # analysis window
HOP_SECONDS = 0.010
N_MELS = 64
MAX_HZ = 8000.0  # mel bands stop here, so 16 kHz and 48 kHz audio get the same bands
FLOOR_DB = -80.0  # band level of white noise at -80 dBFS: anything quieter counts as silence
BACKGROUND_PERCENTILE = 20.0  # a band's background: this percentile of its levels over time
OVER_BACKGROUND_DB = 12.0  # only rises above background + this count: noise never gets there
FLUX_LAG = 3  # frames: a frame's rise is measured against the frame 30 ms before
PEAK_RADIUS = 0.03  # seconds: an onset is the largest flux within this distance
FLUX_OVER_MEDIAN = 3.0  # an onset's flux is this many times the median flux around it ...
MEDIAN_SECONDS = 0.25  # ... within this distance (so a noisy sound's flicker is no onset) ...
MIN_FLUX_DB = 0.2  # ... and at least this many dB (mean over the bands)
ONSET_DELAY = 0.005  # seconds from a flux frame's start to the onset it reports


def frechet_distance(x: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to embeddings ``x`` (N, D) and ``y`` (M, D).

    ``||mu_x - mu_y||^2 + Tr(S_x + S_y - 2 sqrt(S_x S_y))`` as in FID / FAD; when the product
    of covariances has no usable square root (singular, e.g. fewer samples than dimensions)
    ``eps * I`` is added to both. Needs N, M >= 2.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need (N, D) and (M, D) embeddings, got {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("need at least 2 embeddings on each side")
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x = np.atleast_2d(np.cov(x, rowvar=False))  # (D, D)
    s_y = np.atleast_2d(np.cov(y, rowvar=False))
    root = sqrtm(s_x @ s_y)
    if not np.isfinite(root).all() or np.abs(root.imag).max() > 1e-3 * np.abs(root).max():
        offset = eps * np.eye(len(s_x))
        root = sqrtm((s_x + offset) @ (s_y + offset))
    trace = np.trace(s_x) + np.trace(s_y) - 2 * np.trace(np.real(root))
    return float(np.sum((mu_x - mu_y) ** 2) + max(trace, 0.0))


class LinearProbe:
    """Multinomial logistic regression on embeddings: full-batch L-BFGS, L2-regularised,
    deterministic; features standardised with the training set's mean and spread."""

    def __init__(self, l2: float = 1e-3, max_iter: int = 200, standardize: bool = True):
        self.l2, self.max_iter, self.standardize = l2, max_iter, standardize
        self.classes: list[str] = []
        self._mean = self._scale = torch.zeros(())
        self._weight: torch.Tensor | None = None  # (D, K) once fitted
        self._bias = torch.zeros(())  # (K,) once fitted

    def fit(self, x: np.ndarray, labels: Sequence[str]) -> LinearProbe:
        """Learn ``labels`` (N names) from embeddings ``x`` (N, D); returns self."""
        if len(x) != len(labels) or len(x) == 0:
            raise ValueError("need one label per embedding, and at least one")
        self.classes = sorted(set(labels))
        feats = torch.as_tensor(np.asarray(x), dtype=torch.float64)  # (N, D)
        if self.standardize:
            self._mean, self._scale = feats.mean(0), feats.std(0, correction=0).clamp_min(1e-8)
        else:
            self._mean, self._scale = torch.zeros(()), torch.ones(())
        feats = (feats - self._mean) / self._scale
        index = {name: i for i, name in enumerate(self.classes)}
        target = torch.tensor([index[name] for name in labels])  # (N,)
        weight = torch.zeros(
            feats.shape[1], len(self.classes), dtype=torch.float64, requires_grad=True
        )  # (D, K)
        bias = torch.zeros(len(self.classes), dtype=torch.float64, requires_grad=True)
        solver = torch.optim.LBFGS(
            [weight, bias], max_iter=self.max_iter, line_search_fn="strong_wolfe"
        )

        def loss() -> torch.Tensor:
            solver.zero_grad()
            value = torch.nn.functional.cross_entropy(feats @ weight + bias, target)
            value = value + self.l2 * weight.pow(2).sum()
            value.backward()
            return value

        solver.step(loss)
        self._weight, self._bias = weight.detach(), bias.detach()
        return self

    def predict(self, x: np.ndarray) -> list[str]:
        """The most likely class name of each embedding in ``x`` (N, D)."""
        if self._weight is None:
            raise RuntimeError("fit the probe first")
        feats = (torch.as_tensor(np.asarray(x), dtype=torch.float64) - self._mean) / self._scale
        best = (feats @ self._weight + self._bias).argmax(1)  # (N,)
        return [self.classes[i] for i in best.tolist()]


def accuracy(true: Sequence[str], pred: Sequence[str]) -> float:
    """Share of clips whose predicted class is the true one."""
    if len(true) != len(pred) or not true:
        raise ValueError("need as many predictions as true labels, and at least one")
    return float(np.mean([t == p for t, p in zip(true, pred, strict=True)]))


def per_class_accuracy(true: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    """Accuracy over the clips of each true class (recall per class), sorted by class."""
    if len(true) != len(pred):
        raise ValueError("need as many predictions as true labels")
    hits: dict[str, list[bool]] = {}
    for t, p in zip(true, pred, strict=True):
        hits.setdefault(t, []).append(t == p)
    return {name: float(np.mean(hits[name])) for name in sorted(hits)}


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


def onset_sync(
    clips: Sequence[tuple[Sequence[float], Sequence[float]]], tolerance: float = 0.2
) -> float | None:
    """Share of clips in sync (``onset_match`` F1 >= 0.5) among the (detected, true onsets)
    pairs with at least one true onset; None when there is no such clip."""
    scores = [onset_match(d, t, tolerance) >= 0.5 for d, t in clips if len(t)]
    return float(np.mean(scores)) if scores else None


def background_profile(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """(64,) the stationary background's spectrum in dB: each band's 20th percentile over
    the frames, so the transient and intermittent action sounds above it are ignored."""
    return np.percentile(log_mel(wave, sample_rate), BACKGROUND_PERCENTILE, axis=0)


def ambient_match(output_wave: np.ndarray, reference_wave: np.ndarray, sample_rate: int) -> float:
    """How well the background under ``output_wave`` matches the one under ``reference_wave``.

    Concordance of the two mean-removed ``background_profile`` curves (dB):
    ``2 cov(a, b) / (var a + var b)``, in [-1, 1]. Removing the means makes it blind to the
    loudness of the background and sensitive to its shape, its colour: unlike a plain
    correlation it also drops when one spectrum is tilted more steeply than the other (brown
    against pink noise). A flat profile (digital silence) has no colour to match: 0.
    """
    a = background_profile(output_wave, sample_rate)
    b = background_profile(reference_wave, sample_rate)
    a, b = a - a.mean(), b - b.mean()
    spread = float(a @ a + b @ b)
    return 2 * float(a @ b) / spread if spread > 1e-9 * len(a) else 0.0
