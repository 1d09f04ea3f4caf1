"""The float Elman RNN trained first (the top rung of the accuracy ladder, and the starting
point and teacher of :func:`nsc.constrain`).

``GloVe nn.Embedding -> Linear(50, P) + ReLU -> nn.RNN(P, H, relu) -> Linear(H, 6)``: a chain
``nsc.constrain`` reads as it is (embedding lookup and projection on the host, the RNN on
the cores, the readout on the host).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["FloatRNN"]


class FloatRNN(nn.Module):
    """Float model over an embedding table ``(V, 50)`` (frozen unless ``freeze=False``);
    ``dropout`` applies to the projection output and to the final state during training.

    ``forward(ids)``: logits ``(B, 6)`` at the last position of ``ids (B, T)`` (the form
    ``nsc.constrain`` traces); :meth:`logits_at` reads each sequence at its own last word.
    """

    def __init__(
        self,
        embedding: np.ndarray,
        proj: int,
        hidden: int,
        classes: int,
        dropout: float = 0.0,
        freeze: bool = True,
    ) -> None:
        super().__init__()
        table = torch.from_numpy(np.array(embedding, copy=True))  # never train the caller's array
        self.embed = nn.Embedding.from_pretrained(table, freeze=freeze)
        self.proj = nn.Linear(embedding.shape[1], proj)
        self.rnn = nn.RNN(proj, hidden, nonlinearity="relu", batch_first=True)
        self.readout = nn.Linear(hidden, classes)
        self.drop = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 6)`` after the last position of ``ids``."""
        u = self.drop(torch.relu(self.proj(self.embed(ids))))
        h, _ = self.rnn(u)
        return self.readout(self.drop(h))[:, -1]

    def logits_at(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 6)`` at each sequence's last word (right-padded ``ids``)."""
        u = self.drop(torch.relu(self.proj(self.embed(ids))))
        h, _ = self.rnn(u)
        last = h[torch.arange(ids.shape[0]), lengths - 1]
        return self.readout(self.drop(last))
