"""``nsc.constrain``: fine-tune the exact constrained network of a float model on user data.

Deterministic for a seed (and torch thread count); model selection uses only the validation
data (or a seeded split of the training data when none is given).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from nsc_runtime import hw

from ...defaults import DEFAULT_LEVELS, DEFAULT_MAX_FANIN
from ...errors import FrontendError, NscError
from ...ir import Output
from .convert import FloatChain, constrained_from_float, parse_model
from .data import IGNORE, DataError, SeqData, as_seqdata, split_val
from .model import WHAT_RUNS_WHERE, ConstrainedNet

__all__ = [
    "ConstrainSummary",
    "accuracy",
    "constrain",
    "estimate_cores",
    "float_logits",
    "predict",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ConstrainSummary:
    """What :func:`constrain` did: validation accuracies, history, cores, seconds."""

    float_val_accuracy: float
    initial_val_accuracy: float
    val_accuracy: float
    best_epoch: int
    cores_estimate: int
    fan_in: list[int]
    levels: int
    max_fanin: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _select(logits: np.ndarray | torch.Tensor, lengths: np.ndarray, per_step: bool) -> Any:
    """Logits at every step (per-step labels) or at each sequence's last step."""
    if per_step:
        return logits
    return logits[np.arange(len(lengths)), np.asarray(lengths) - 1]


def float_logits(chain: FloatChain, data: SeqData) -> np.ndarray:
    """The float model's logits (float64, exact graph of the model): ``(N, C)`` at the last
    step, or ``(N, T, C)`` for per-step labels."""
    out = []
    for idx in data.batches(512):
        x, lengths, _ = data.take(idx)
        values = chain.float_values(chain.embed(x))
        y = values[chain.graph.of_type(Output)[0].name]
        out.append((idx, _select(y, lengths, data.per_step)))
    return _gather(out, len(data), data)


def _gather(parts: list[tuple[np.ndarray, np.ndarray]], n: int, data: SeqData) -> np.ndarray:
    first = parts[0][1]
    if data.per_step:
        shape: tuple[int, ...] = (n, data.x.shape[1], first.shape[-1])
    else:
        shape = (n, first.shape[-1])
    out = np.zeros(shape, first.dtype)
    for idx, v in parts:
        if data.per_step:
            out[idx, : v.shape[1]] = v
        else:
            out[idx] = v
    return out


@torch.no_grad()
def predict(net: ConstrainedNet, data: SeqData) -> np.ndarray:
    """Predicted class (argmax of the exact integer logits; first maximum wins) of every
    sequence ``(N,)`` or step ``(N, T)``."""
    was = net.training
    net.eval()
    parts = []
    for idx in data.batches(512):
        x, lengths, _ = data.take(idx)
        per = net.spec.readout == "all"
        y = net(x, None if per else lengths).numpy()
        parts.append((idx, _select(y, lengths, data.per_step) if per else y))
    net.train(was)
    return _gather(parts, len(data), data).argmax(-1)


def accuracy(pred: np.ndarray, data: SeqData) -> float:
    """Fraction of labels (of non-padded steps for per-step labels) predicted right."""
    valid = data.y != IGNORE
    return float((pred[valid] == data.y[valid]).mean())


def estimate_cores(net: ConstrainedNet) -> int:
    """Cores the spiking populations need, estimated before compiling: every neuron the
    compiled network has, packed first fit onto cores of 256 neuron slots and 256 axons.

    Neurons: each layer's trained units, and for a gated layer also its ``H`` state neurons
    and ``H`` state copies (docs/gated-units.md: weights 1, 2, 1 from the unit's keep gate,
    write unit and state). Axons: one per (source, axon type) a core's neurons listen to, the
    types being the bits of each weight's 4-bit code as encode-weights chooses it (one
    definition, :func:`nsc.passes.encode_weights.units`). Slots: a neuron takes one slot per
    axon type it drives (replicate-fanout gives it one copy per (core, type) it feeds), at
    least one. Both counts assume a neuron's listeners of one type share a core, so they are
    lower counts; the placer in ``nsc.compile`` gives the final number."""
    from ...passes.encode_weights import units

    Key = tuple[int, str, int]  # (layer, role, index); layer -1: the host's input lines
    listens: list[set[tuple[Key, int]]] = []  # per neuron: the (source, type) axons it reads
    ids: list[Key] = []
    out_role = "x"  # role of the previous layer's output neurons ("o": a gated layer's copies)

    def add_rows(w: np.ndarray, sources: list[Key], roles: list[Key]) -> None:
        rows, cols = np.nonzero(w)
        unit, _ = units(w.shape[0], [rows], [w[rows, cols]], w.shape[1])
        q = (w // np.maximum(unit, 1)[:, None]).astype(np.int64) & 15
        for r, key in enumerate(roles):
            axons = {
                (sources[i], t) for i in np.flatnonzero(w[r]) for t in range(4) if q[r, i] >> t & 1
            }
            listens.append(axons)
            ids.append(key)

    for k, layer in enumerate(net.spec.layers):
        w_in, w_rec = net.q_weights(k)
        w = (w_in if w_rec is None else torch.cat([w_in, w_rec], 1)).detach().numpy()
        w = w.round().astype(np.int64)
        inputs: list[Key] = [(k - 1, out_role if k else "x", i) for i in range(layer.inputs)]
        if layer.gated:
            h = layer.size
            rec: list[Key] = [(k, "h", j) for j in range(h)]
            roles = [(k, "f", j) for j in range(h)] + [(k, "u", j) for j in range(h)]
            add_rows(w, inputs + rec, roles)
            for role in ("h", "o"):  # state neurons and their copies, one definition of the
                for j in range(h):  # weights: f -> type 0, u -> type 1, h -> type 0
                    listens.append({((k, "f", j), 0), ((k, "u", j), 1), ((k, "h", j), 0)})
                    ids.append((k, role, j))
            out_role = "o"
        else:
            rec = [(k, "x", j) for j in range(layer.size)] if w_rec is not None else []
            add_rows(w, inputs + rec, [(k, "x", j) for j in range(layer.size)])
            out_role = "x"
    drives: dict[Key, set[int]] = {}
    for axons in listens:
        for src, t in axons:
            drives.setdefault(src, set()).add(t)
    cores: list[tuple[int, set[tuple[Key, int]]]] = []
    for key, axons in zip(ids, listens, strict=True):
        slots = max(1, len(drives.get(key, ())))
        for c, (count, used) in enumerate(cores):
            if count + slots <= hw.NEURONS_PER_CORE and len(used | axons) <= hw.AXONS_PER_CORE:
                cores[c] = (count + slots, used | axons)
                break
        else:
            cores.append((slots, set(axons)))
    return len(cores)


def _check_model_data(chain: FloatChain, data: SeqData, what: str) -> None:
    if chain.embedding is not None:
        if not data.ids:
            raise DataError(f"{what}: the model starts with nn.Embedding; X must be (N, T) ids")
        vocab = chain.embedding.shape[0]
        if data.x.min() < 0 or data.x.max() >= vocab:
            raise DataError(f"{what}: token ids must lie in [0, {vocab})")
    else:
        if data.ids:
            raise DataError(f"{what}: X must be (N, T, {chain.features}) features")
        if data.x.shape[2] != chain.features:
            raise DataError(
                f"{what}: X has {data.x.shape[2]} features, the model takes {chain.features}"
            )
    classes = chain.readout_w.shape[0]
    labels = data.y[data.y != IGNORE]
    if labels.size and labels.max() >= classes:
        raise DataError(f"{what}: label {labels.max()} >= the model's {classes} outputs")
    if data.per_step != (chain.readout == "all"):
        need = "(N, T) per-step" if chain.readout == "all" else "(N,) per-sequence"
        raise DataError(f"{what}: the model's readout needs {need} labels, got y {data.y.shape}")


def constrain(
    model: nn.Module,
    train: Any,
    *,
    val: Any = None,
    levels: int = DEFAULT_LEVELS,
    max_fanin: int = DEFAULT_MAX_FANIN,
    epochs: int = 20,
    relax_epochs: int = 10,
    loss: LossFn | None = None,
    seed: int = 0,
    lr: float = 5e-4,
    batch_size: int = 32,
    distill: float = 0.7,
    temperature: float = 2.0,
    val_fraction: float = 0.1,
    grad_clip: float = 1.0,
    surrogate_slope: float = 0.05,
    surrogate_damping: float = 1.0,
    quantile: float = 0.99,
    host_weight_max: int = 127,
    calibration: int = 2048,
    masks: Sequence[Any] | None = None,
    center_embedding: bool = True,
    progress: bool = True,
    verbose: bool = True,
) -> ConstrainedNet:
    """Train-and-constrain ``model`` on ``train``; return the :class:`ConstrainedNet` whose
    forward is the exact integer function of the compiled network (``nsc.compile`` it).

    ``model``: a float ``nn.Module`` (see :data:`WHAT_RUNS_WHERE`), used as the starting
    point and as the distillation teacher (weight ``distill``, temperature ``temperature``).
    ``train`` / ``val``: DataLoader, Dataset or ``(X, y)`` (:mod:`nsc.train.constrain.data`);
    without ``val``, a seeded ``val_fraction`` of ``train`` is held out. ``loss(logits, y)``
    replaces cross-entropy (then no distillation); ``logits`` are in the float model's units. The
    weights of the epoch with the best validation accuracy are kept (ties: the later one).
    ``masks``: one bool fan-in mask ``(H, n_in [+ H])`` per spiking population (e.g. a
    :func:`~nsc.train.constrain.masks.group_mask` the float model was trained under); by
    default the largest ``max_fanin`` inputs of each neuron are kept. ``center_embedding``
    (default): an ``nn.Embedding`` read by a host projection becomes a signed integer table
    centred on 0 (``round(e * 127 / max|e|)`` per feature); ``False``: an offset code in
    ``[0, 256)``, on which TREC's exact fine-tuning stalled (docs/results.md).
    The result carries ``summary`` (:class:`ConstrainSummary`).

    ``surrogate_damping`` in ``(0, 1]`` scales the surrogate derivative of every spike count in
    the exact stage (1: none): the gradient through ``T`` windows is damped like
    ``damping ** T``; try 0.5 when the exact stage's loss jumps up on long sequences (its
    gradient explodes through time).
    """
    t0 = time.perf_counter()
    if not 2 <= levels <= hw.DELAY_MAX + 1:
        raise NscError(f"levels must be in [2, {hw.DELAY_MAX + 1}], got {levels}")
    if not 1 <= max_fanin <= hw.AXONS_PER_CORE // 4:
        raise NscError(f"max_fanin must be in [1, {hw.AXONS_PER_CORE // 4}], got {max_fanin}")
    if not 0.0 < surrogate_damping <= 1.0:
        raise NscError(f"surrogate_damping must be in (0, 1], got {surrogate_damping}")
    if epochs < 0 or batch_size < 1:
        raise NscError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    train_data = as_seqdata(train, "train")
    if val is None:
        train_data, val_data = split_val(train_data, val_fraction, seed)
    else:
        val_data = as_seqdata(val, "val")
    try:
        chain = parse_model(model)  # the input size from the model's first layer
    except FrontendError as err:
        if "input size" not in str(err) or train_data.ids:
            raise
        chain = parse_model(model, int(train_data.x.shape[2]))
    _check_model_data(chain, train_data, "train")
    _check_model_data(chain, val_data, "val")
    set_seed(seed)
    rng = np.random.default_rng(seed)
    cal_idx = np.sort(rng.permutation(len(train_data))[: min(calibration, len(train_data))])
    cal = train_data.subset(cal_idx)
    # calibrate on the real steps only: padded steps would skew the statistics
    valid = np.arange(cal.x.shape[1])[None, :] < cal.lengths[:, None]
    net = constrained_from_float(
        chain,
        cal.x,
        valid=valid,
        levels=levels,
        max_fanin=max_fanin,
        quantile=quantile,
        host_weight_max=host_weight_max,
        masks=None if masks is None else list(masks),
        center_embedding=center_embedding,
    )
    net.surrogate_slope = surrogate_slope
    float_val = accuracy(float_logits(chain, val_data).argmax(-1), val_data)
    cores = estimate_cores(net)
    net.surrogate_damping = surrogate_damping
    if verbose:
        print(WHAT_RUNS_WHERE)
        sizes = " -> ".join(str(layer.size) for layer in net.spec.layers)
        print(
            f"nsc.constrain: populations {sizes}, fan-in {net.fan_in()} (max {max_fanin}), "
            f"about {cores} core(s) before compiling; float validation accuracy "
            f"{100 * float_val:.1f}%"
        )
    teacher = float_logits(chain, train_data) if loss is None and distill > 0 else None
    common: dict[str, Any] = dict(
        lr=lr,
        batch_size=batch_size,
        loss_fn=loss,
        distill=distill if loss is None else 0.0,
        temperature=temperature,
        grad_clip=grad_clip,
        seed=seed,
        progress=progress,
    )
    relax_history: list[dict[str, Any]] = []
    if relax_epochs:
        net.relaxed = True
        relax_history, _, _ = _fit(
            net, train_data, val_data, teacher, epochs=relax_epochs, desc="relax", **common
        )
        net.relaxed = False
    history, best_epoch, initial = _fit(
        net,
        train_data,
        val_data,
        teacher,
        epochs=epochs,
        desc="constrain",
        **common,
    )
    net.summary = ConstrainSummary(
        float_val_accuracy=float_val,
        initial_val_accuracy=initial,
        val_accuracy=max([initial] + [h["val"] for h in history]),
        best_epoch=best_epoch,
        cores_estimate=estimate_cores(net),
        fan_in=net.fan_in(),
        levels=levels,
        max_fanin=max_fanin,
        seconds=time.perf_counter() - t0,
        history=relax_history + history,
    )
    return net


def _fit(
    net: ConstrainedNet,
    train: SeqData,
    val: SeqData,
    teacher: np.ndarray | None,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    loss_fn: LossFn | None,
    distill: float,
    temperature: float,
    grad_clip: float,
    seed: int,
    progress: bool,
    desc: str,
) -> tuple[list[dict[str, Any]], int, float]:
    """Adam, gradient clipping, cosine schedule; keeps the state of the best validation
    accuracy (of the exact network: the relaxed warm-up is judged by what it leaves for the
    exact network). Returns the history, the best epoch (-1: the start) and the start's
    validation accuracy."""
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    rng = np.random.default_rng(seed + 2)
    relaxed = net.relaxed
    net.relaxed = False
    initial = accuracy(predict(net, val), val)
    # the loss reads logits in units where the float model's spread is about 4 (argmax is
    # unchanged): float models with huge logits otherwise saturate cross-entropy
    logit_temp = 1.0
    if teacher is not None:
        logit_temp = max(1.0, float(np.std(teacher[np.isfinite(teacher)])) / 4.0)
    best_acc, best_state, best_epoch = initial, copy.deepcopy(net.state_dict()), -1
    history: list[dict[str, Any]] = []
    per_step = train.per_step
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress)
    net.relaxed = relaxed
    for epoch in bar:
        net.train()
        total, count = 0.0, 0
        for idx in train.batches(batch_size, rng):
            x, lengths, y = train.take(idx)
            logits = net(x, None if per_step else lengths) / (net.logit_scale * logit_temp)
            target = torch.from_numpy(y)
            if loss_fn is not None:
                loss = loss_fn(logits, target)
            else:
                flat = logits.reshape(-1, logits.shape[-1])
                loss = nn.functional.cross_entropy(flat, target.reshape(-1), ignore_index=IGNORE)
                if teacher is not None:
                    t_logits = teacher[idx][:, : logits.shape[1]] if per_step else teacher[idx]
                    t = torch.from_numpy(t_logits / logit_temp).reshape(-1, logits.shape[-1])
                    keep = target.reshape(-1) != IGNORE
                    kd = nn.functional.kl_div(
                        nn.functional.log_softmax(flat[keep] / temperature, 1),
                        nn.functional.log_softmax(t[keep] / temperature, 1),
                        reduction="batchmean",
                        log_target=True,
                    )
                    loss = (1 - distill) * loss + distill * temperature**2 * kd
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            net.clamp_latent_()
            total += float(loss.item()) * len(idx)
            count += len(idx)
        sched.step()
        net.relaxed = False
        val_acc = accuracy(predict(net, val), val)
        net.relaxed = relaxed
        history.append({"stage": desc, "epoch": epoch, "loss": total / count, "val": val_acc})
        if val_acc >= best_acc:
            best_acc, best_state, best_epoch = val_acc, copy.deepcopy(net.state_dict()), epoch
        bar.set_postfix(loss=f"{total / count:.3f}", val=f"{val_acc:.3f}", best=f"{best_acc:.3f}")
    net.load_state_dict(best_state)
    net.relaxed = False
    net.eval()
    return history, best_epoch, initial
