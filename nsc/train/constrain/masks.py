"""Fan-in masks chosen by the user: a structured group mask for a float model trained under it
(so the network packs onto few cores), and the check of masks passed to ``nsc.constrain``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ...errors import NscError

__all__ = ["check_masks", "group_mask"]


def group_mask(inputs: int, hidden: int, max_fanin: int, groups: int) -> np.ndarray:
    """A structured bool mask ``(H, n_in + H)`` over ``[W_in | W_rec]`` of one recurrent
    population with at most ``max_fanin`` inputs per neuron (all ones when ``n_in + H`` fit).

    The ``hidden`` neurons form ``groups`` equal consecutive groups; every neuron of group
    ``g`` sees all ``inputs``, the neurons of its own group, then those of groups ``g+1,
    g+2, ...`` (cyclically) while whole groups fit. The neurons of a group share one input set,
    so the placer can put a group on one core. Train the float model under this mask (applied
    from the start) and pass it to :func:`nsc.constrain` as ``masks=[mask]``: pruning a
    trained dense model to the fan-in afterwards loses far more accuracy (TREC, best config:
    10 points of validation accuracy).
    """
    if min(inputs, hidden, max_fanin, groups) < 1:
        raise NscError(
            f"a group mask needs positive sizes; got inputs={inputs}, hidden={hidden}, "
            f"max_fanin={max_fanin}, groups={groups}"
        )
    if inputs + hidden <= max_fanin:
        return np.ones((hidden, inputs + hidden), dtype=bool)
    if hidden % groups or inputs + hidden // groups > max_fanin:
        raise NscError(
            "a group mask needs hidden % groups == 0 and inputs + hidden/groups <= max_fanin; "
            f"got inputs={inputs}, hidden={hidden}, groups={groups}, max_fanin={max_fanin}"
        )
    size = hidden // groups
    mask = np.zeros((hidden, inputs + hidden), dtype=bool)
    mask[:, :inputs] = True
    seen = (max_fanin - inputs) // size  # whole groups that fit
    for g in range(groups):
        rows = slice(g * size, (g + 1) * size)
        for k in range(min(seen, groups)):
            src = (g + k) % groups
            mask[rows, inputs + src * size : inputs + (src + 1) * size] = True
    return mask


def check_masks(
    masks: Sequence[Any], expected: Sequence[np.ndarray], max_fanin: int
) -> list[np.ndarray]:
    """The user's ``masks`` as bool arrays, one per spiking population, each of the shape of
    the corresponding ``expected`` mask and with at most ``max_fanin`` inputs per neuron."""
    if len(masks) != len(expected):
        raise NscError(f"masks: {len(masks)} given, the model has {len(expected)} populations")
    out = []
    for k, (m, want) in enumerate(zip(masks, expected, strict=True)):
        arr = m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m)
        if arr.shape != want.shape:
            raise NscError(f"masks[{k}]: shape {arr.shape}, population {k} needs {want.shape}")
        arr = arr.astype(bool)
        most = int(arr.sum(1).max()) if arr.size else 0
        if most > max_fanin:
            raise NscError(
                f"masks[{k}]: a neuron keeps {most} inputs, more than max_fanin = {max_fanin}"
            )
        out.append(arr)
    return out
