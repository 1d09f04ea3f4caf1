"""From a float PyTorch model to the starting point of constrained training.

:func:`parse_model` reads the model's layer chain (torch.fx, through nsc's frontend, with a
leading ``nn.Embedding`` handled here) and applies the what-runs-where rule
(:data:`nsc.train.constrain.model.WHAT_RUNS_WHERE`). :func:`constrained_from_float` maps its float
weights onto integers from activation statistics on calibration data: activities
``a ~ c * value`` with ``c = (L-1) / q`` for ``q`` the 0.99 quantile of the positive values,
one threshold per neuron by :func:`best_scale`, the readout scaled to 1023 at most.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import FrontendError
from ...ir import ElmanRNN, Graph, Input, Linear, Output, ReLU
from ...ir.interpret import run_trace
from ...ops.gated import GatedLayer
from .gated import gated_float_rows, gated_latent
from .model import (
    READOUT_MAX,
    WEIGHT_MAX,
    WEIGHT_MIN,
    ConstrainedNet,
    LayerSpec,
    NetSpec,
)

__all__ = ["FloatChain", "best_scale", "constrained_from_float", "fan_in_masks", "parse_model"]

HOST_INPUT_LEVELS = 256  # input quantizer levels when a host projection follows


@dataclass(eq=False)
class _Stage:
    """One layer of the float chain: ``y = f(w_in x + w_rec y_prev + bias)``."""

    kind: str  # "proj" (host Linear+ReLU), "rnn", "dense" (on-chip Linear+ReLU), "gated"
    w_in: np.ndarray
    w_rec: np.ndarray | None
    bias: np.ndarray
    out_node: str  # graph node whose values are this stage's outputs
    tanh: bool = False
    # "gated" (nn.GRU / nn.LSTM): rows [keep | write] of the float GateMaps (nsc.ops.gated)

    @property
    def size(self) -> int:
        """Output width (a gated stage's rows are its keep gates and write units)."""
        return len(self.bias) // 2 if self.kind == "gated" else len(self.bias)


@dataclass
class FloatChain:
    """A float model read as: input (features or embedding) -> stages -> readout."""

    graph: Graph  # network-level IR of the model (embedding replaced by its output)
    embedding: np.ndarray | None  # (V, E) float rows, or None for feature inputs
    stages: list[_Stage]
    readout_w: np.ndarray
    readout_b: np.ndarray
    readout: str  # "last" or "all"

    @property
    def features(self) -> int:
        return int(self.graph.of_type(Input)[0].features)

    def float_values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every node's float64 value on float inputs ``x`` (embedded already)."""
        return run_trace(self.graph, x).values

    def embed(self, x: np.ndarray) -> np.ndarray:
        """The graph's input for model input ``x`` (ids -> embedding rows)."""
        if self.embedding is None:
            return np.asarray(x, np.float64)
        ids = np.asarray(x).astype(np.int64)
        if ids.ndim == 3:
            ids = ids[..., 0]
        return self.embedding[ids].astype(np.float64)


def _embedding_first(model: nn.Module) -> tuple[nn.Module, np.ndarray | None]:
    """If the model's input goes straight into an ``nn.Embedding``: a copy of the model with
    that embedding replaced by ``nn.Identity``, and the embedding rows."""
    embeddings = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Embedding)]
    if not embeddings:
        return model, None
    if len(embeddings) > 1:
        raise FrontendError("only one nn.Embedding (the first layer) is supported")
    name, emb = embeddings[0]
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception as err:
        raise FrontendError(f"torch.fx cannot trace {type(model).__name__}: {err}") from None
    first = [u for n in traced.graph.nodes if n.op == "placeholder" for u in n.users]
    if len(first) != 1 or first[0].op != "call_module" or first[0].target != name:
        raise FrontendError(
            f"nn.Embedding {name!r} must be the first layer, reading the model's input ids"
        )
    weights = emb.weight.detach().double().numpy().copy()
    if not np.all(np.isfinite(weights)):
        raise FrontendError(f"layer {name!r} has NaN or infinite weights")
    clone = copy.deepcopy(model)
    parent = clone
    parts = name.split(".")
    for p in parts[:-1]:
        parent = getattr(parent, p)
    setattr(parent, parts[-1], nn.Identity())
    return clone, weights


def parse_model(model: nn.Module, features: int | None = None) -> FloatChain:
    """Read ``model`` as a chain and apply the what-runs-where rule; raise
    :class:`FrontendError` naming what is not supported."""
    from ...frontend.torch_fx import from_torch

    if not isinstance(model, nn.Module):
        raise FrontendError(f"nsc.constrain takes a torch.nn.Module, got {type(model).__name__}")
    body, embedding = _embedding_first(model)
    width = embedding.shape[1] if embedding is not None else features
    example = None if width is None else torch.zeros(1, 1, int(width))
    graph = from_torch(body, example)
    graph.verify()
    out = graph.of_type(Output)
    if len(out) != 1:
        raise FrontendError("the model must have exactly one output")
    chain: list[Any] = []
    node: Any = graph[out[0].source]
    while not isinstance(node, Input):
        if len(graph.users(node.name)) != 1:
            raise FrontendError(f"%{node.name} feeds several layers; only chains are supported")
        chain.append(node)
        node = graph[node.source]
    chain.reverse()
    stages: list[_Stage] = []
    pending: tuple[np.ndarray, np.ndarray] | None = None
    readout: tuple[np.ndarray, np.ndarray] | None = None
    i = 0
    while i < len(chain):
        node = chain[i]
        nxt = chain[i + 1] if i + 1 < len(chain) else None
        if isinstance(node, ElmanRNN):
            w_in = node.w_ih
            bias = node.bias if node.bias is not None else np.zeros(node.w_hh.shape[0])
            if pending is not None:
                w_in, bias = w_in @ pending[0], bias + w_in @ pending[1]
                pending = None
            tanh = node.nonlinearity == "tanh"
            stages.append(_Stage("rnn", w_in, node.w_hh, bias, node.name, tanh))
            i += 2 if isinstance(nxt, ReLU) else 1
        elif isinstance(node, Linear):
            w = node.weight
            b = node.bias if node.bias is not None else np.zeros(w.shape[0])
            if pending is not None:
                w, b = w @ pending[0], b + w @ pending[1]
                pending = None
            if isinstance(nxt, ReLU):
                kind = "proj" if not stages else "dense"
                if kind == "dense" and not any(s.kind in ("rnn", "gated") for s in stages):
                    raise FrontendError(
                        f"%{node.name}: a second Linear+ReLU before the first RNN is not "
                        "supported (one host projection, then spiking layers)"
                    )
                stages.append(_Stage(kind, w, None, b, nxt.name))
                i += 2
            elif nxt is None:
                readout = (w, b)
                i += 1
            else:
                pending = (w, b)
                i += 1
        elif isinstance(node, GatedLayer):
            if isinstance(nxt, ReLU):
                raise FrontendError(
                    f"%{nxt.name}: an activation after a gated layer is not supported (the "
                    "gated unit's state is non-negative already; docs/gated-units.md)"
                )
            w_in, w_rec, bias = gated_float_rows(node)
            if pending is not None:
                w_in, bias = w_in @ pending[0], bias + w_in @ pending[1]
                pending = None
            stages.append(_Stage("gated", w_in, w_rec, bias, node.name))
            i += 1
        elif isinstance(node, ReLU):
            raise FrontendError(f"%{node.name}: a ReLU must follow a Linear or an RNN")
        else:
            raise FrontendError(f"%{node.name}: op {node.op!r} is not supported by constrain")
    if readout is None:
        raise FrontendError("the model must end with an nn.Linear readout")
    if not any(s.kind in ("rnn", "dense", "gated") for s in stages):
        raise FrontendError(
            "the model has no layer for the cores (an nn.RNN, nn.GRU or nn.LSTM is needed)"
        )
    return FloatChain(
        graph,
        embedding,
        stages,
        readout[0],
        readout[1],
        str(graph.attrs.get("readout", "all")),
    )


def best_scale(
    w: torch.Tensor, power: torch.Tensor, max_scale: int, lo: int = WEIGHT_MIN, hi: int = WEIGHT_MAX
) -> torch.Tensor:
    """Per row of ``w (R, n)``, the integer scale ``a`` in ``[1, max_scale]`` minimising
    ``sum_i power_i (w_i - clip(round(a w_i), lo, hi) / a) ** 2``."""
    grid = torch.unique(torch.logspace(0, math.log10(max_scale), 400, dtype=torch.float64).round())
    q = (w.unsqueeze(-1) * grid).round().clamp(lo, hi) / grid
    err = ((w.unsqueeze(-1) - q) ** 2 * power[None, :, None]).sum(1)
    return grid[err.argmin(1)]


def fan_in_masks(
    chain: FloatChain, values: dict[str, np.ndarray], max_fanin: int
) -> list[np.ndarray]:
    """Per spiking population, a bool mask ``(H, n_in [+ H])`` keeping at most ``max_fanin``
    inputs per neuron: all of them when they fit, else the largest by ``|w| * rms(input)``."""
    masks = []
    for stage in chain.stages:
        if stage.kind == "proj":
            continue
        n_in, n_out = stage.w_in.shape[1], stage.size
        rms_in = np.sqrt(np.mean(np.square(values[_input_node(chain, stage)]).reshape(-1, n_in), 0))
        rms_out = np.sqrt(np.mean(np.square(values[stage.out_node]).reshape(-1, n_out), 0))
        w = np.abs(stage.w_in) * rms_in[None]
        if stage.w_rec is not None:
            w = np.concatenate([w, np.abs(stage.w_rec) * rms_out[None]], 1)
        mask = np.ones(w.shape, dtype=bool)
        if w.shape[1] > max_fanin:
            mask[:] = False
            keep = np.argsort(-w, axis=1, kind="stable")[:, :max_fanin]
            np.put_along_axis(mask, keep, True, axis=1)
        masks.append(mask)
    return masks


def _input_node(chain: FloatChain, stage: _Stage) -> str:
    i = chain.stages.index(stage)
    if i == 0:
        return chain.graph.of_type(Input)[0].name
    return chain.stages[i - 1].out_node


def _activity_scale(v: np.ndarray, levels: int, quantile: float) -> float:
    pos = v[v > 0]
    if pos.size == 0:
        return 1.0
    q = float(np.quantile(pos, quantile))
    return (levels - 1) / q if q > 0 else 1.0


@torch.no_grad()
def constrained_from_float(
    chain: FloatChain,
    x_cal: np.ndarray,
    *,
    levels: int,
    max_fanin: int,
    quantile: float = 0.99,
    host_weight_max: int = 127,
    valid: np.ndarray | None = None,
    masks: list[np.ndarray] | None = None,
    center_embedding: bool = True,
) -> ConstrainedNet:
    """The constrained network initialised from ``chain`` and calibration inputs ``x_cal``
    (model inputs: features ``(N, T, F)`` or ids ``(N, T)``); statistics use the steps where
    ``valid (N, T)`` holds (default: all). ``masks``: the fan-in mask of each spiking
    population (default: :func:`fan_in_masks` chooses them). ``center_embedding``: an
    embedding read by a host projection becomes a signed integer table ``round(e * s)`` in
    ``[-(L_in/2 - 1), L_in/2 - 1]`` per feature instead of an offset code in ``[0, L_in)``."""
    x_float = chain.embed(x_cal)
    values = chain.float_values(x_float)
    if valid is not None:
        values = {k: v[valid] for k, v in values.items()}
        x_float = x_float[valid]
    has_proj = chain.stages[0].kind == "proj"
    spiking = [s for s in chain.stages if s.kind != "proj"]
    in_levels = HOST_INPUT_LEVELS if has_proj else levels
    # input quantizer: a = floor(x * s + o), x ~ lo + a / s
    flat = x_float.reshape(-1, x_float.shape[-1])
    if chain.embedding is not None:
        flat = chain.embedding
    lo, hi = flat.min(0), flat.max(0)  # rare large values (a cue) must not be clipped
    span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    scale = (in_levels - 1) / span
    offset = 0.5 - lo * scale
    # an embedding read by a host projection: a signed table centred on 0, x ~ a / s (an
    # offset code would make every projection weight move the pre-activation's mean too)
    signed = center_embedding and chain.embedding is not None and has_proj
    if signed:
        half = in_levels // 2 - 1
        top = np.abs(flat).max(0)
        scale = half / np.where(top > 1e-12, top, 1.0)
        lo = np.zeros_like(lo)
        offset = np.full_like(lo, 0.5)

    layers = []
    n_in = chain.stages[0].w_in.shape[0] if has_proj else chain.features
    for s in spiking:
        gated = s.kind == "gated"
        layers.append(LayerSpec(s.size, n_in, s.w_rec is not None and not gated, gated))
        n_in = s.size
    spec = NetSpec(
        input_kind="features" if chain.embedding is None else "embedding",
        features=chain.features,
        vocab=0 if chain.embedding is None else chain.embedding.shape[0],
        input_levels=in_levels,
        proj=chain.stages[0].w_in.shape[0] if has_proj else 0,
        layers=tuple(layers),
        classes=chain.readout_w.shape[0],
        levels=levels,
        readout=chain.readout,
    )
    net = ConstrainedNet(spec, host_weight_max)
    if chain.embedding is None:
        net.in_scale.copy_(torch.from_numpy(scale))
        net.in_offset.copy_(torch.from_numpy(offset))
    else:
        from ...ops.host_input import quantize_features

        if signed:
            table = np.floor(chain.embedding * scale + 0.5)
        else:
            table = quantize_features(chain.embedding, scale, offset, in_levels)
        net.table.copy_(torch.from_numpy(table.astype(np.float64)))
    # first consumer of the input sees x = lo + a / s
    w0 = chain.stages[0].w_in
    first_w = w0 / scale[None, :]
    first_b = chain.stages[0].bias + w0 @ lo
    a_cal = (flat * scale + offset).clip(0, in_levels - 1) if not signed else flat * scale
    user_masks = None
    if masks is not None:  # the user's, checked against the shapes of the automatic ones
        from .masks import check_masks

        user_masks = check_masks(masks, fan_in_masks(chain, values, max_fanin), max_fanin)
    c_in = 1.0  # activity levels per unit of the current stage's input (after the rewrite)
    masks = fan_in_masks(chain, values, max_fanin)
    shift = False
    k = 0
    for idx, stage in enumerate(chain.stages):
        w_in = first_w if idx == 0 else stage.w_in
        bias = first_b if idx == 0 else stage.bias
        if shift:  # the previous (gated) layer's value is counts / c_in - 1
            bias = bias - w_in.sum(1)
        out_vals = values[stage.out_node]
        c_out = _activity_scale(out_vals, levels, quantile)
        shift = stage.kind == "gated"
        if shift:  # a gated state h in (-1, 1) is carried as c_out * (h + 1), c_out = W / 2
            c_out = (levels - 1) / 2.0
        if stage.kind == "proj":
            g = c_out * w_in / c_in
            power = torch.from_numpy(np.mean(np.square(a_cal), 0))
            dp = int(
                best_scale(
                    torch.from_numpy(g).reshape(1, -1),
                    power.repeat(g.shape[0]),
                    1 << 16,
                    -host_weight_max,
                    host_weight_max,
                )[0]
            )
            net.proj_div = dp
            net.proj_w.copy_(torch.from_numpy(g))
            net.proj_b.copy_(torch.from_numpy(c_out * bias + 0.5))
            c_in = c_out
            continue
        mask = masks[k] if user_masks is None else user_masks[k]
        n_src = w_in.shape[1]
        lat_rec: np.ndarray | None
        if stage.kind == "gated":
            assert stage.w_rec is not None
            lat_in, lat_rec, lat_leak = gated_latent(w_in, stage.w_rec, bias, c_in, c_out, levels)
        else:
            lat_in, lat_rec, lat_leak = (c_out / c_in) * w_in, stage.w_rec, c_out * bias
        lat_in = lat_in * mask[:, :n_src]
        lat = [lat_in]
        in_act = _stage_input_activity(chain, idx, values, c_in, levels, x_float, a_cal)
        power = [np.mean(np.square(in_act), 0)]
        if lat_rec is not None:
            lat.append(lat_rec * mask[:, n_src:])
            power.append(
                np.mean(
                    np.square(np.clip(c_out * (out_vals + shift), 0, levels - 1)).reshape(
                        -1, stage.size
                    ),
                    0,
                )
            )
        w_all = torch.from_numpy(np.concatenate(lat, 1))
        alpha = best_scale(w_all, torch.from_numpy(np.concatenate(power)), 4096)
        getattr(net, f"log_alpha{k}").copy_(alpha.log())
        getattr(net, f"w_in{k}").copy_(torch.from_numpy(lat_in))
        if lat_rec is not None:
            getattr(net, f"w_rec{k}").copy_(torch.from_numpy(lat[1]))
        getattr(net, f"leak{k}").copy_(torch.from_numpy(lat_leak))
        getattr(net, f"mask{k}").copy_(torch.from_numpy(mask))
        c_in = c_out
        k += 1
    rw = chain.readout_w / c_in
    readout_b = chain.readout_b - chain.readout_w.sum(1) if shift else chain.readout_b
    net.readout_w.copy_(torch.from_numpy(rw))
    net.readout_b.copy_(torch.from_numpy(readout_b))
    top = float(np.abs(rw).max()) if rw.size else 0.0
    net.readout_scale.fill_(READOUT_MAX / max(top, 1e-12))
    net.clamp_latent_()
    return net


def _stage_input_activity(
    chain: FloatChain,
    idx: int,
    values: dict[str, np.ndarray],
    c_in: float,
    levels: int,
    x_float: np.ndarray,
    a_cal: np.ndarray,
) -> np.ndarray:
    """Calibration activities ``(n, n_in)`` entering stage ``idx`` (in level units)."""
    if idx == 0:
        return a_cal
    prev = values[chain.stages[idx - 1].out_node]
    return np.clip(c_in * prev, 0, levels - 1).reshape(-1, prev.shape[-1])
