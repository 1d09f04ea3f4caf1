"""From the float model to the constrained one: fan-in masks and a statistics-based mapping of
float weights onto integer weights, thresholds and leaks (the starting point of fine-tuning).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .constrained import (
    LEVELS,
    READOUT_MAX,
    WEIGHT_MAX,
    WEIGHT_MIN,
    X_MAX,
    ConstrainedRNN,
)
from .dataset import Encoded
from .float_model import FloatRNN

__all__ = ["choose_in_scale", "constrained_from_float", "fan_in_mask", "float_statistics"]


def choose_in_scale(embedding: np.ndarray) -> float:
    """``127 / max |e|`` over the table: every GloVe coordinate fits ``[-127, 127]``."""
    return X_MAX / float(np.abs(embedding).max())


@torch.no_grad()
def float_statistics(model: FloatRNN, data: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
    """Projection outputs ``(n, P)`` and hidden states ``(n, H)`` at every real word of
    ``data`` (padding excluded)."""
    model.eval()
    us, hs = [], []
    for idx in data.batches(512):
        ids, lengths, _ = data.take(idx)
        u, h = model.activations(ids, lengths)
        valid = torch.arange(ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        us.append(u[valid])
        hs.append(h[valid])
    return torch.cat(us), torch.cat(hs)


def fan_in_mask(proj: int, hidden: int, fan_in: int, groups: int) -> torch.Tensor:
    """A structured bool mask ``(H, P + H)`` over ``[Win | Wrec]`` with at most ``fan_in``
    inputs per neuron (all ones when ``P + H <= fan_in``).

    The hidden neurons form ``groups`` equal consecutive groups; every neuron of group ``g``
    sees all ``P`` projection units, the neurons of its own group, then those of groups
    ``g+1, g+2, ...`` (cyclically) while they fit. Neurons of a group share one input set,
    so the placer can put a group on one core (``4 * fan_in <= 256`` axons).
    """
    if proj + hidden <= fan_in:
        return torch.ones(hidden, proj + hidden, dtype=torch.bool)
    size = hidden // groups
    if hidden % groups or proj + size > fan_in:
        raise ValueError(
            f"need hidden % groups == 0 and proj + hidden/groups <= fan_in; got proj={proj}, "
            f"hidden={hidden}, groups={groups}, fan_in={fan_in}"
        )
    mask = torch.zeros(hidden, proj + hidden, dtype=torch.bool)
    mask[:, :proj] = True
    seen = (fan_in - proj) // size  # whole groups that fit
    for g in range(groups):
        rows = slice(g * size, (g + 1) * size)
        for k in range(min(seen, groups)):
            src = (g + k) % groups
            mask[rows, proj + src * size : proj + (src + 1) * size] = True
    return mask


def best_scale(w: torch.Tensor, power: torch.Tensor, max_scale: int) -> torch.Tensor:
    """Per row of ``w (R, n)``, the integer scale ``a`` in ``[1, max_scale]`` minimising
    ``sum_i power_i * (w_i - clip(round(a w_i), -8, 7) / a) ** 2``: the quantization error of
    the row's contribution for inputs of mean square ``power (n,)``."""
    grid = torch.unique(torch.logspace(0, math.log10(max_scale), 400).round())
    q = (w.unsqueeze(-1) * grid).round().clamp(WEIGHT_MIN, WEIGHT_MAX) / grid
    err = ((w.unsqueeze(-1) - q) ** 2 * power[None, :, None]).sum(1)  # (R, C)
    return grid[err.argmin(1)]


@torch.no_grad()
def constrained_from_float(
    model: FloatRNN,
    vocab: list[str],
    embedding: np.ndarray,
    data: Encoded,
    mask: torch.Tensor,
    quantile: float = 0.99,
) -> ConstrainedRNN:
    """Map the float model onto integers.

    Activities: ``p ~ c_p * u`` and ``h ~ c_h * h_float`` with ``c = 15 / q`` for ``q`` the
    ``quantile`` of the positive float activations. Projection: one divisor ``dp`` for all
    rows; recurrent layer: one threshold ``alpha_j`` per neuron, since
    ``h_j ~ (Win p + Wrec h + 15 leak_j) / alpha_j``; both chosen by :func:`best_scale`.
    """
    u, h = float_statistics(model, data)
    c_p = (LEVELS - 1) / float(torch.quantile(u[u > 0], quantile))
    c_h = (LEVELS - 1) / float(torch.quantile(h[h > 0], quantile))
    in_scale = choose_in_scale(embedding)
    proj, hidden = model.proj.out_features, model.rnn.hidden_size

    g = c_p * model.proj.weight / in_scale  # activity levels per unit of x_q
    x_power = (torch.from_numpy(embedding).double() * in_scale).pow(2).mean(0).float()
    proj_div = int(best_scale(g.reshape(1, -1), x_power.repeat(proj), 1 << 16)[0])
    classes = model.readout.out_features
    out = ConstrainedRNN(vocab, embedding, in_scale, proj, hidden, classes, proj_div, mask)
    out.proj_w.copy_(g)
    out.proj_b.copy_(c_p * model.proj.bias + 0.5)  # + 0.5: floor() then rounds to nearest

    w_in = (c_h / c_p) * model.rnn.weight_ih_l0 * mask[:, :proj]
    w_rec = model.rnn.weight_hh_l0 * mask[:, proj:]
    power = torch.cat(
        [(c_p * u).clamp(0, 15).pow(2).mean(0), (c_h * h).clamp(0, 15).pow(2).mean(0)]
    )
    alpha = best_scale(torch.cat([w_in, w_rec], 1), power, 4096)
    out.log_alpha.copy_(alpha.log())
    out.w_in.copy_(w_in)
    out.w_rec.copy_(w_rec)
    out.leak.copy_(c_h * (model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0))
    out.readout_w.copy_(model.readout.weight / c_h)
    out.readout_b.copy_(model.readout.bias)
    out.readout_scale.fill_(READOUT_MAX / float(out.readout_w.abs().max().clamp_min(1e-12)))
    out.clamp_latent_()
    return out
