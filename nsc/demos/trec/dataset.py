"""TREC encoded for training: token ids, lengths, labels, and length-bucketed batches (and
the :class:`~nsc.train.constrain.SeqData` form ``nsc.constrain`` reads)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nsc.demos.trec.data import Question, build_vocab, glove_embeddings, load_trec, train_val_split
from nsc.train.constrain import SeqData

__all__ = ["Encoded", "TrecData", "load_data"]


@dataclass
class Encoded:
    """A set of questions as right-padded ids ``(N, T_max)`` (pad id 0 is never read: every
    model reads position ``lengths - 1``), ``lengths (N,)`` and ``labels (N,)``."""

    ids: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    tokens: list[tuple[str, ...]]

    @classmethod
    def from_questions(cls, questions: Sequence[Question], index: dict[str, int]) -> Encoded:
        t_max = max(len(q.tokens) for q in questions)
        ids = torch.zeros(len(questions), t_max, dtype=torch.long)
        for n, q in enumerate(questions):
            ids[n, : len(q.tokens)] = torch.tensor([index[w] for w in q.tokens])
        lengths = torch.tensor([len(q.tokens) for q in questions], dtype=torch.long)
        labels = torch.tensor([q.label for q in questions], dtype=torch.long)
        return cls(ids, lengths, labels, [q.tokens for q in questions])

    def subset(self, idx: Sequence[int]) -> Encoded:
        """The questions ``idx``, in that order."""
        sel = torch.as_tensor(list(idx), dtype=torch.long)
        lengths = self.lengths[sel]
        t_max = int(lengths.max())
        tokens = [self.tokens[i] for i in sel.tolist()]
        return Encoded(self.ids[sel, :t_max], lengths, self.labels[sel], tokens)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[torch.Tensor]:
        """Index batches of questions of similar length (sorted by length, chunked); with a
        ``generator`` the order inside each length and the order of the batches are shuffled.
        """
        n = len(self)
        if generator is None:
            order = torch.argsort(self.lengths, stable=True)
        else:
            jitter = torch.rand(n, generator=generator)
            order = torch.argsort(self.lengths.double() + jitter.double() * 0.999, stable=True)
        chunks = list(torch.split(order, batch_size))
        if generator is not None:
            perm = torch.randperm(len(chunks), generator=generator).tolist()
            chunks = [chunks[i] for i in perm]
        yield from chunks

    def seqdata(self) -> SeqData:
        """The same questions as :func:`nsc.constrain` reads them (ids, lengths, labels)."""
        return SeqData(self.ids.numpy(), self.lengths.numpy(), self.labels.numpy())

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(ids[:, :T], lengths, labels)`` of the questions ``idx``, with ``T`` their longest
        length."""
        lengths = self.lengths[idx]
        t = int(lengths.max())
        return self.ids[idx, :t], lengths, self.labels[idx]


@dataclass
class TrecData:
    """Train / validation / test sets over one vocabulary and its GloVe table."""

    vocab: list[str]
    embedding: np.ndarray  # (V, 50) float32, GloVe rows (zero for out-of-vocabulary words)
    train: Encoded
    val: Encoded
    test: Encoded


def load_data(val_fraction: float = 0.1, split_seed: int = 0) -> TrecData:
    """Load TREC, carve the validation split from the training file, encode all three sets.

    The vocabulary covers training and test words: the host lookup is the (unsupervised,
    frozen) GloVe table restricted to the words that occur, so this leaks no labels.
    """
    train_all = load_trec("train")
    test = load_trec("test")
    train, val = train_val_split(train_all, val_fraction, split_seed)
    vocab = build_vocab(q.tokens for q in train_all + test)
    index = {w: i for i, w in enumerate(vocab)}
    emb, _ = glove_embeddings(vocab)
    return TrecData(
        vocab,
        emb,
        Encoded.from_questions(train, index),
        Encoded.from_questions(val, index),
        Encoded.from_questions(test, index),
    )
