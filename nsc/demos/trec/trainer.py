"""Training: float pre-training, then train-and-constrain fine-tuning of the exact model.

Deterministic for a given seed (and thread count); model selection uses only the validation
split; checkpoints are written atomically.
"""

from __future__ import annotations

import copy
import os
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from nsc.demos.trec.data import CLASSES
from nsc_runtime.atomic import atomic_path

from .constrained import ConstrainedRNN
from .convert import constrained_from_float, fan_in_mask
from .dataset import Encoded, TrecData
from .float_model import FloatRNN

__all__ = [
    "CONFIGS",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
    "set_seed",
    "train",
    "train_constrained",
    "train_float",
    "with_overrides",
]

N_CLASSES = len(CLASSES)


@dataclass(frozen=True)
class TrainConfig:
    """Shape and schedule of one training run.

    ``distill``: weight of knowledge distillation from the float model while constraining.
    ``learn_embeddings``: fine-tune the word vectors during float training (default: frozen
    GloVe); the constrained model and the host lookup then use the learned table.
    ``groups``: the hidden neurons form this many groups; the neurons of a group share one
    set of at most ``fan_in`` inputs (see :func:`nsc.demos.trec.convert.fan_in_mask`); the float
    model is trained under the same mask.
    """

    name: str
    proj: int = 47
    hidden: int = 16
    fan_in: int = 64
    groups: int = 1
    float_epochs: int = 40
    float_lr: float = 2e-3
    float_dropout: float = 0.1
    epochs: int = 30
    lr: float = 2e-3
    batch_size: int = 32
    grad_clip: float = 1.0
    quantile: float = 0.99
    surrogate_slope: float = 0.05
    distill: float = 0.7
    distill_temperature: float = 2.0
    val_fraction: float = 0.1
    split_seed: int = 0
    learn_embeddings: bool = False


CONFIGS: dict[str, TrainConfig] = {
    "paper": TrainConfig("paper"),
    "best": TrainConfig("best", proj=48, hidden=128, groups=8),
}


@dataclass
class TrainResult:
    """The trained models, their accuracies (validation and test) and stage times."""

    config: TrainConfig
    seed: int
    float_model: FloatRNN
    model: ConstrainedRNN
    accuracy: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _logits(model: nn.Module, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Logits at the last word; for a constrained model, its exact integer logits."""
    if isinstance(model, ConstrainedRNN):
        return model.integer_logits(ids)[torch.arange(ids.shape[0]), lengths - 1]
    return model(ids, lengths)


@torch.no_grad()
def predict(model: nn.Module, data: Encoded) -> np.ndarray:
    """Predicted class of every question of ``data``, in order (first maximum wins)."""
    was_training = model.training
    model.eval()
    out = np.empty(len(data), np.int64)
    for idx in data.batches(512):
        ids, lengths, _ = data.take(idx)
        out[idx.numpy()] = _logits(model, ids, lengths).numpy().argmax(1)
    model.train(was_training)
    return out


def accuracy(model: nn.Module, data: Encoded) -> float:
    """Fraction of ``data`` classified correctly."""
    return float((predict(model, data) == data.labels.numpy()).mean())


def _fit(
    model: nn.Module,
    data: TrecData,
    epochs: int,
    lr: float,
    cfg: TrainConfig,
    seed: int,
    desc: str,
    progress: bool,
    after_step: Any = None,
    teacher: nn.Module | None = None,
) -> list[dict[str, Any]]:
    """Adam with gradient clipping and a cosine schedule; keeps the weights of the epoch with
    the best validation accuracy (ties: the later epoch). Returns the per-epoch history.

    With a ``teacher``, the loss mixes in knowledge distillation:
    ``(1 - a) * CE + a * T^2 * KL(teacher_T || model_T)`` with ``a = cfg.distill``,
    ``T = cfg.distill_temperature``."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    gen = torch.Generator().manual_seed(seed)
    best_acc, best_state = accuracy(model, data.val), copy.deepcopy(model.state_dict())
    history = []
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress, leave=True)
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for idx in data.train.batches(cfg.batch_size, gen):
            ids, lengths, labels = data.train.take(idx)
            logits = model(ids, lengths)
            loss = nn.functional.cross_entropy(logits, labels)
            if teacher is not None and cfg.distill > 0:
                temp = cfg.distill_temperature
                with torch.no_grad():
                    target = nn.functional.log_softmax(teacher(ids, lengths) / temp, 1)
                kd = nn.functional.kl_div(
                    nn.functional.log_softmax(logits / temp, 1),
                    target,
                    reduction="batchmean",
                    log_target=True,
                )
                loss = (1 - cfg.distill) * loss + cfg.distill * temp**2 * kd
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            if after_step is not None:
                after_step()
            total += loss.item() * len(idx)
            count += len(idx)
        sched.step()
        val = accuracy(model, data.val)
        history.append({"stage": desc, "epoch": epoch, "loss": total / count, "val": val})
        if val >= best_acc:
            best_acc, best_state = val, copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{total / count:.3f}", val=f"{val:.3f}", best=f"{best_acc:.3f}")
    model.load_state_dict(best_state)
    model.eval()
    return history


def train_float(
    cfg: TrainConfig, data: TrecData, seed: int, mask: torch.Tensor, progress: bool = True
) -> tuple[FloatRNN, list[dict[str, Any]]]:
    """Float pre-training with BPTT under the fan-in ``mask`` (re-applied after every step).
    The recurrent matrix starts at ``0.5 * I`` (IRNN-style: a ReLU RNN with the default
    initialisation trains poorly)."""
    set_seed(seed)
    model = FloatRNN(
        data.embedding,
        cfg.proj,
        cfg.hidden,
        N_CLASSES,
        cfg.float_dropout,
        freeze=not cfg.learn_embeddings,
    )
    with torch.no_grad():
        model.rnn.weight_hh_l0.copy_(0.5 * torch.eye(cfg.hidden))
        model.rnn.bias_hh_l0.zero_()
        model.rnn.bias_ih_l0.zero_()

    @torch.no_grad()
    def apply_mask() -> None:
        model.rnn.weight_ih_l0.mul_(mask[:, : cfg.proj])
        model.rnn.weight_hh_l0.mul_(mask[:, cfg.proj :])

    apply_mask()
    history = _fit(
        model, data, cfg.float_epochs, cfg.float_lr, cfg, seed, "float", progress, apply_mask
    )
    return model, history


def train_constrained(
    cfg: TrainConfig,
    data: TrecData,
    float_model: FloatRNN,
    mask: torch.Tensor,
    seed: int,
    progress: bool = True,
) -> tuple[ConstrainedRNN, list[dict[str, Any]]]:
    """Initialise the exact constrained model from the float one, then fine-tune it."""
    set_seed(seed)
    embedding = float_model.embed.weight.detach().cpu().numpy().astype(np.float32)
    model = constrained_from_float(
        float_model, data.vocab, embedding, data.train, mask, cfg.quantile
    )
    model.surrogate_slope = cfg.surrogate_slope
    float_model.eval()
    history = _fit(
        model,
        data,
        cfg.epochs,
        cfg.lr,
        cfg,
        seed + 2,
        "constrained",
        progress,
        model.clamp_latent_,
        teacher=float_model,
    )
    return model, history


def save_checkpoint(path: str | os.PathLike[str], result: TrainResult) -> None:
    """Both models, the config, seed and accuracies, in one file (written atomically)."""
    blob = {
        "config": asdict(result.config),
        "seed": result.seed,
        "accuracy": result.accuracy,
        "float": result.float_model.state_dict(),
        "constrained": result.model.state_dict(),
    }
    with atomic_path(path, make_parents=True) as tmp:
        torch.save(blob, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> TrainResult:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    blob = torch.load(path, weights_only=False)
    cfg = TrainConfig(**blob["config"])
    state = blob["constrained"]
    emb = state["embedding"].numpy()
    fm = FloatRNN(emb, cfg.proj, cfg.hidden, N_CLASSES, cfg.float_dropout)
    fm.load_state_dict(blob["float"])
    extra = state["_extra_state"]
    model = ConstrainedRNN(
        extra["vocab"],
        emb,
        extra["in_scale"],
        cfg.proj,
        cfg.hidden,
        N_CLASSES,
        extra["proj_div"],
        state["mask"],
    )
    model.load_state_dict(state)
    return TrainResult(cfg, int(blob["seed"]), fm.eval(), model.eval(), dict(blob["accuracy"]))


def train(
    cfg: TrainConfig,
    data: TrecData,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TrainResult:
    """The whole ladder: float, then constrained. Accuracies on validation and
    test for every rung; the checkpoint goes to ``out_dir/checkpoint.pt`` if given."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    mask = fan_in_mask(cfg.proj, cfg.hidden, cfg.fan_in, cfg.groups)
    fm, history = train_float(cfg, data, seed, mask, progress)
    times["float"] = time.perf_counter() - t0
    acc = {"float_val": accuracy(fm, data.val), "float_test": accuracy(fm, data.test)}
    t2 = time.perf_counter()
    model, h2 = train_constrained(cfg, data, fm, mask, seed, progress)
    times["constrained"] = time.perf_counter() - t2
    times["train"] = time.perf_counter() - t0
    acc["constrained_val"] = accuracy(model, data.val)
    acc["constrained_test"] = accuracy(model, data.test)
    result = TrainResult(cfg, seed, fm, model, acc, times, history + h2)
    if out_dir is not None:
        save_checkpoint(Path(out_dir) / "checkpoint.pt", result)
    return result


def with_overrides(cfg: TrainConfig, **changes: Any) -> TrainConfig:
    """``cfg`` with the given fields replaced (``None`` values are ignored)."""
    return replace(cfg, **{k: v for k, v in changes.items() if v is not None})
