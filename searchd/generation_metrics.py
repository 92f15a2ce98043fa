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

from indexer.onsets import BACKGROUND_PERCENTILE, log_mel, onset_match


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
