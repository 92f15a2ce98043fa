"""BERT uncased WordPiece tokenizer in pure Python (what all-MiniLM-L6-v2 was trained with).

Reproduces Hugging Face's ``BertTokenizerFast`` for ``do_lower_case=True``: clean the text,
space out CJK characters, strip accents, lowercase, split on whitespace and punctuation, then
greedy longest-match WordPiece with ``##`` continuations; ``[CLS] ... [SEP]``, ``[PAD]`` = 0.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import torch

MAX_WORD_CHARS = 100  # longer words become [UNK], as in BERT


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf", "Co")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True  # all non-letter/number ASCII, e.g. "$" and "^", count as punctuation
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class WordPieceTokenizer:
    """``vocab.txt`` -> token ids. Call it on a list of strings to get a padded id tensor."""

    def __init__(self, vocab_path: str | Path, max_tokens: int = 32):
        words = Path(vocab_path).read_text(encoding="utf-8").splitlines()
        self.vocab: dict[str, int] = {w: i for i, w in enumerate(words)}
        self.max_tokens = max_tokens
        self.pad_id = self.vocab["[PAD]"]
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self._cache: dict[str, list[str]] = {}  # word -> word pieces

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def normalize(self, text: str) -> str:
        """Clean, space out CJK, strip accents, lowercase (BertNormalizer)."""
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                out.append(" ")
            elif _is_cjk(cp):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = unicodedata.normalize("NFD", "".join(out))
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        return text.lower()

    def split_words(self, text: str) -> list[str]:
        """Whitespace split, each punctuation character a word of its own."""
        words = []
        for chunk in text.split():
            current = ""
            for ch in chunk:
                if _is_punctuation(ch):
                    if current:
                        words.append(current)
                    words.append(ch)
                    current = ""
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def word_pieces(self, word: str) -> list[str]:
        """Greedy longest-match-first WordPiece; an unsplittable word is ``[UNK]``."""
        if word not in self._cache:
            pieces = self._greedy_pieces(word) if len(word) <= MAX_WORD_CHARS else None
            self._cache[word] = pieces or ["[UNK]"]
        return self._cache[word]

    def _greedy_pieces(self, word: str) -> list[str] | None:
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
            else:
                return None  # no piece of the vocabulary starts here
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [p for w in self.split_words(self.normalize(text)) for p in self.word_pieces(w)]

    def encode(self, text: str) -> list[int]:
        """``[CLS] pieces [SEP]`` ids, truncated to ``max_tokens``."""
        pieces = self.tokenize(text)[: self.max_tokens - 2]
        ids = [self.vocab.get(p, self.unk_id) for p in pieces]
        return [self.cls_id, *ids, self.sep_id]

    def __call__(self, texts: list[str], pad_to: int | None = None) -> torch.Tensor:
        """Padded ids (N, T), T = ``pad_to`` or the longest row; ``ids != pad_id`` is the mask."""
        rows = [self.encode(t) for t in texts]
        length = pad_to or max((len(r) for r in rows), default=2)
        ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return ids
