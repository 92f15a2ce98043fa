"""Embed clips with a trained model and store the vectors (only those still missing)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from indexer.cache import ClipCache
from indexer.catalog import ClipRow
from indexer.dataset import ClipDataset, clip_texts
from indexer.vectors import VectorStore
from models.mc3 import MC3
from models.text import SentenceEncoder

MODALITIES = ("audio", "video", "text", "narration")


@torch.no_grad()
def embed_rows(
    model: MC3,
    rows: Sequence[ClipRow],
    cache: ClipCache,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Audio, video and (for narrated clips) text embeddings: modality -> (keys, (N, D))."""
    model.eval()
    texts, has_text = clip_texts(rows)
    prepared = model.prepare_text(texts)
    dataset = ClipDataset(rows, cache, model.config.clip, prepared, has_text)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    keys = np.array([r.key for r in rows], dtype=np.int64)
    audio, video, text = [], [], []
    device = next(model.parameters()).device
    for batch in tqdm(loader, desc="embed", unit="batch", disable=not progress):
        audio.append(model.encode_audio(batch["audio"].to(device)).cpu())
        video.append(model.encode_video(batch["frames"].to(device)).cpu())
        text.append(model.encode_text(batch["text"].to(device)).cpu())
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if not rows:
        return out
    out["audio"] = (keys, torch.cat(audio).numpy())
    out["video"] = (keys, torch.cat(video).numpy())
    mask = has_text.numpy()
    out["text"] = (keys[mask], torch.cat(text).numpy()[mask])
    return out


def embed_missing(
    model: MC3,
    version: str,
    rows: Sequence[ClipRow],
    cache: ClipCache,
    store: VectorStore,
    sentence_encoder: SentenceEncoder,
    batch_size: int = 64,
    chunk: int = 512,
    progress: bool = False,
) -> dict[str, int]:
    """Embed and store every clip that has no vector yet for ``version``; resumable in chunks.

    Returns the number of new vectors per modality.
    """
    done = store.existing_keys(version, "audio") & store.existing_keys(version, "video")
    todo = [r for r in rows if r.key not in done]
    written = dict.fromkeys(MODALITIES, 0)
    bar = tqdm(total=len(todo), desc="embed", unit="clip", disable=not progress)
    for first in range(0, len(todo), chunk):
        part = todo[first : first + chunk]
        vectors = embed_rows(model, part, cache, batch_size)
        # text and narration vectors first: audio+video mark a clip as done
        narrated = [r for r in part if r.narration]
        if narrated:
            texts, _ = clip_texts(narrated)
            narration = sentence_encoder.embed(texts).numpy()
            keys = np.array([r.key for r in narrated], dtype=np.int64)
            written["narration"] += store.write(version, "narration", keys, narration)
            store.write_narrations(keys, [r.narration or "" for r in narrated])
            written["text"] += store.write(version, "text", *vectors["text"])
        for modality in ("video", "audio"):
            written[modality] += store.write(version, modality, *vectors[modality])
        bar.update(len(part))
    bar.close()
    return written
