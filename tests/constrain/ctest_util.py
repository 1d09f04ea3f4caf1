"""Small float models of every shape nsc.constrain supports, and random integer states."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nsc.train.constrain.model import ConstrainedNet


class Net(nn.Module):
    """``[Embedding] -> [Linear + ReLU] -> RNN (layers, relu|tanh) [-> RNN] [-> Linear + ReLU]
    -> Linear``, read at the last step or at every step."""

    def __init__(
        self,
        features: int,
        *,
        vocab: int = 0,
        proj: int = 0,
        hidden: int = 6,
        layers: int = 1,
        second: int = 0,
        nonlinearity: str = "relu",
        dense: int = 0,
        classes: int = 3,
        last: bool = True,
    ) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, features) if vocab else None
        self.proj = nn.Linear(features, proj) if proj else None
        width = proj or features
        self.rnn = nn.RNN(width, hidden, layers, nonlinearity=nonlinearity, batch_first=True)
        self.rnn2 = nn.RNN(hidden, second, batch_first=True) if second else None
        self.dense = nn.Linear(second or hidden, dense) if dense else None
        self.out = nn.Linear(dense or second or hidden, classes)
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.emb is not None:
            x = self.emb(x)
        if self.proj is not None:
            x = torch.relu(self.proj(x))
        y, _ = self.rnn(x)
        if self.rnn2 is not None:
            y, _ = self.rnn2(y)
        if self.dense is not None:
            y = torch.relu(self.dense(y))
        y = self.out(y)
        if self.last:
            return y[:, -1]
        return y


@torch.no_grad()
def randomize(net: ConstrainedNet, rng: np.random.Generator, alpha_max: int = 40) -> None:
    """Random integer weights, thresholds and leaks (masks kept): busy, saturating neurons."""
    for k, layer in enumerate(net.spec.layers):
        alpha = rng.integers(1, alpha_max + 1, layer.size).astype(np.float64)
        getattr(net, f"log_alpha{k}").copy_(torch.from_numpy(np.log(alpha)))
        shape_in = (layer.size, layer.inputs)
        w = rng.integers(-8, 8, shape_in) / alpha[:, None]
        getattr(net, f"w_in{k}").copy_(torch.from_numpy(w))
        if layer.recurrent:
            w = rng.integers(-8, 8, (layer.size, layer.size)) / alpha[:, None]
            getattr(net, f"w_rec{k}").copy_(torch.from_numpy(w))
        leak = rng.integers(-40, 41, layer.size) * net.spec.window / alpha
        getattr(net, f"leak{k}").copy_(torch.from_numpy(leak))
    net.readout_w.copy_(torch.from_numpy(rng.normal(0, 1, tuple(net.readout_w.shape))))
