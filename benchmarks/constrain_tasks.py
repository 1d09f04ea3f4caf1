"""nsc.constrain on three tasks besides TREC-6: float, PTQ (nsc.compile alone), constrained and
spiking accuracy, agreement, cores, seconds per task; the last line is one JSON object.

Tasks (no downloads at run time):

- ``japanese-vowels``: the UCI/UEA Japanese Vowels speaker set (9 speakers, 12 LPC cepstrum
  features, 7-29 steps; 270 train / 370 test), read from the copy the ``aeon`` package ships
  in its files (``pip install --no-deps aeon`` is enough: only the data files are read). The
  float model is PyTorch's default ``nn.RNN`` (tanh) on standardized (signed) features;
- ``japanese-vowels-01``: the same data min-max scaled to [0, 1], a ReLU ``nn.RNN``;
- ``memory-60``: synthetic, the class is a cue shown at step 0 of 60 among noise in [0, 1]
  (the answer is read at step 60: memory over 60 steps); a tanh RNN on [0, 1] inputs, its
  float training loss taken at every step from step 1 (where the answer is already defined);
- ``trec-50``: TREC question classification with its 50 fine labels (same files as TREC-6),
  frozen GloVe ``nn.Embedding`` -> Linear+ReLU -> ReLU RNN -> Linear.

Each task's float model is trained here in plain PyTorch; ``nsc.constrain`` then runs with
each learning rate of ``LEARNING_RATES`` and the one with the best validation accuracy is kept
(test data is never used for a choice); the TREC tasks run at the TREC demo's 2e-3 only.

Usage: ``python benchmarks/constrain_tasks.py [--tasks a,b] [--quick] [--reports DIR]``.
Deterministic per seed and thread count (1 thread).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import nsc
from nsc.train.constrain.data import SeqData, split_val
from nsc.train.constrain.report import ladder


class SeqModel(nn.Module):
    """``[Embedding] -> [Linear+ReLU] -> RNN -> Linear`` read at the last step."""

    def __init__(
        self,
        features: int,
        hidden: int,
        classes: int,
        *,
        proj: int = 0,
        nonlinearity: str = "tanh",
        embedding: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.emb = None
        if embedding is not None:
            self.emb = nn.Embedding.from_pretrained(torch.from_numpy(embedding), freeze=True)
        self.proj = nn.Linear(features, proj) if proj else None
        self.rnn = nn.RNN(proj or features, hidden, nonlinearity=nonlinearity, batch_first=True)
        self.out = nn.Linear(hidden, classes)
        self.drop = nn.Dropout(0.1)

    def steps(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at every step ``(B, T, C)``."""
        if self.emb is not None:
            x = self.emb(x)
        if self.proj is not None:
            x = self.drop(torch.relu(self.proj(x)))
        y, _ = self.rnn(x)
        return self.out(self.drop(y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.steps(x)[:, -1]


def train_float(
    model: SeqModel,
    train: SeqData,
    val: SeqData,
    epochs: int,
    lr: float,
    seed: int,
    *,
    from_step: int | None = None,
) -> SeqModel:
    """Plain PyTorch training at each sequence's last real step (``from_step``: at every step
    from that one on, equal lengths only); best validation epoch (at the last step)."""
    import copy

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    best, state = -1.0, copy.deepcopy(model.state_dict())
    for _ in range(epochs):
        model.train()
        for idx in train.batches(32, rng):
            x, lengths, y = train.take(idx)
            xt = torch.from_numpy(x) if train.ids else torch.from_numpy(x).float()
            if from_step is None:
                logits = model.steps(xt)[torch.arange(len(idx)), torch.from_numpy(lengths) - 1]
                loss = nn.functional.cross_entropy(logits, torch.from_numpy(y))
            else:
                every = model.steps(xt)[:, from_step:]
                target = torch.from_numpy(y)[:, None].expand(-1, every.shape[1])
                loss = nn.functional.cross_entropy(
                    every.reshape(-1, every.shape[-1]), target.reshape(-1)
                )
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        acc = float_accuracy(model, val)
        if acc >= best:
            best, state = acc, copy.deepcopy(model.state_dict())
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def float_accuracy(model: SeqModel, data: SeqData) -> float:
    model.eval()
    hits = 0
    for idx in data.batches(512):
        x, lengths, y = data.take(idx)
        xt = torch.from_numpy(x) if data.ids else torch.from_numpy(x).float()
        logits = model.steps(xt)[torch.arange(len(idx)), torch.from_numpy(lengths) - 1]
        hits += int((logits.argmax(1).numpy() == y).sum())
    return hits / len(data)


# ---------------------------------------------------------------------------------------------
# tasks


def _read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """A ``.ts`` file (sktime/aeon format): per case ``dim1:dim2:...:label``."""
    seqs, labels = [], []
    data = False
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            data = True
            continue
        if not data:
            continue
        *dims, label = line.split(":")
        seqs.append(np.array([[float(v) for v in d.split(",")] for d in dims]).T)
        labels.append(label)
    return seqs, labels


def _pad(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    t = max(len(s) for s in seqs)
    x = np.zeros((len(seqs), t, seqs[0].shape[1]))
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
    return x, np.array([len(s) for s in seqs])


def _vowels() -> tuple[list[np.ndarray], list[str], list[np.ndarray], list[str]]:
    spec = importlib.util.find_spec("aeon")
    if spec is None or spec.origin is None:
        raise SystemExit("japanese-vowels needs the aeon package's data files: pip install aeon")
    root = Path(spec.origin).parent / "datasets" / "data" / "JapaneseVowels"
    tr_seqs, tr_lab = _read_ts(root / "JapaneseVowels_TRAIN.ts")
    te_seqs, te_lab = _read_ts(root / "JapaneseVowels_TEST.ts")
    return tr_seqs, tr_lab, te_seqs, te_lab


def japanese_vowels(seed: int, unit: bool = False) -> tuple[Any, ...]:
    """Standardized (signed) features and a tanh RNN; ``unit``: features min-max scaled to
    [0, 1] (on the training set) and a ReLU RNN."""
    tr_seqs, tr_lab, te_seqs, te_lab = _vowels()
    classes = sorted(set(tr_lab))
    stack = np.concatenate(tr_seqs)
    if unit:
        shift, div = stack.min(0), stack.max(0) - stack.min(0)
    else:
        shift, div = stack.mean(0), stack.std(0)
    x, lengths = _pad([(s - shift) / div for s in tr_seqs])
    y = np.array([classes.index(c) for c in tr_lab])
    train, val = split_val(SeqData(x, lengths, y), 0.15, seed)
    xt, lt = _pad([(s - shift) / div for s in te_seqs])
    test = SeqData(xt, lt, np.array([classes.index(c) for c in te_lab]))
    torch.manual_seed(seed)
    model = SeqModel(12, 32, len(classes), nonlinearity="relu" if unit else "tanh")
    if unit:
        with torch.no_grad():  # IRNN-style start for the ReLU RNN
            model.rnn.weight_hh_l0.copy_(0.5 * torch.eye(32))
            model.rnn.bias_hh_l0.zero_()
            model.rnn.bias_ih_l0.zero_()
    model = train_float(model, train, val, 60, 3e-3, seed)
    return train, val, test, model, {"epochs": 20, "relax_epochs": 20}


def japanese_vowels_unit(seed: int) -> tuple[Any, ...]:
    return japanese_vowels(seed, unit=True)


def memory(seed: int, steps: int = 60, n: int = 3000) -> tuple[Any, ...]:
    """The cue task (module docstring); PyTorch's default (tanh) RNN, trained with the loss at
    every step from step 1 (the cue is the answer from then on). (An identity-initialised
    ReLU RNN also learns it, by amplifying the cue to hidden values of ~3,000, a solution that
    did not survive conversion: 55% after nsc.constrain.)"""
    rng = np.random.default_rng(1000 + seed)
    classes = 4
    x = rng.random((n, steps, classes)) * 0.5
    y = rng.integers(0, classes, n)
    x[:, 0] = 0.0
    x[np.arange(n), 0, y] = 1.0
    data = SeqData(x, np.full(n, steps), y)
    train, rest = data.subset(range(0, 2000)), data.subset(range(2000, n))
    val, test = rest.subset(range(0, 300)), rest.subset(range(300, len(rest)))
    torch.manual_seed(seed)
    model = SeqModel(classes, 16, classes, nonlinearity="tanh")
    # the answer is defined from step 1 on: trained at every step from there, the float model
    # holds the cue (a fixed point); trained at the last step alone it learned a trajectory
    # right only there (0-85% read at earlier steps), whose timing the integer network shifts
    model = train_float(model, train, val, 30, 2e-3, seed, from_step=1)
    return train, val, test, model, {"epochs": 20, "relax_epochs": 20}


def trec50(seed: int, coarse: bool = False) -> tuple[Any, ...]:
    """TREC with the 50 fine labels (16 projection units, 48 recurrent); ``coarse``: the 6
    coarse labels in the paper's shape (47 projection units, 16 recurrent), for comparison
    with the dedicated TREC trainer of ``nsc demo trec``."""
    from nsc.demos.trec.data import (
        CLASSES,
        build_vocab,
        glove_embeddings,
        load_trec,
        train_val_split,
    )

    train_q = load_trec("train")
    test_q = load_trec("test")

    def label(q: Any) -> str:
        return CLASSES[q.label] if coarse else q.fine

    fine = list(CLASSES) if coarse else sorted({q.fine for q in train_q})
    tr, va = train_val_split(train_q, 0.1, 0)
    vocab = build_vocab(q.tokens for q in train_q + test_q)
    index = {w: i for i, w in enumerate(vocab)}
    emb, _ = glove_embeddings(vocab)

    def encode(qs: list[Any]) -> SeqData:
        t = max(len(q.tokens) for q in qs)
        ids = np.zeros((len(qs), t), np.int64)
        for i, q in enumerate(qs):
            ids[i, : len(q.tokens)] = [index[w] for w in q.tokens]
        y = np.array([fine.index(label(q)) if label(q) in fine else -100 for q in qs])
        lengths = np.array([len(q.tokens) for q in qs])
        keep = y >= 0  # a fine label absent from training cannot be learned: scored as wrong
        y[~keep] = len(fine)
        return SeqData(ids, lengths, y)

    train, val, test = encode(tr), encode(va), encode(test_q)
    torch.manual_seed(seed)
    # 16 projection units + 48 recurrent = 64 inputs per neuron: one core, no masks
    proj, hidden = (47, 16) if coarse else (16, 48)
    model = SeqModel(50, hidden, len(fine) + 1, proj=proj, nonlinearity="relu", embedding=emb)
    with torch.no_grad():
        model.rnn.weight_hh_l0.copy_(0.5 * torch.eye(hidden))
        model.rnn.bias_hh_l0.zero_()
        model.rnn.bias_ih_l0.zero_()
    model = train_float(model, train, val, 30, 2e-3, seed)
    # the signed embedding table (center_embedding) took TREC-6's exact fine-tuning at lr
    # 2e-3 from 55.6% to 84.2% test (paper shape, seed 0); TREC-50 was still improving at
    # epoch 25 of 30, so it gets 60
    # one learning rate (the TREC demo's 2e-3) instead of the search: a TREC exact epoch costs
    # seconds, and the two rates gave 83.5% / 83.2% validation on TREC-6 (centred, seed 0)
    opts = {
        "epochs": 30 if coarse else 60,
        "relax_epochs": 10,
        "center_embedding": True,
        "learning_rates": (2e-3,),
    }
    return train, val, test, model, opts


LEARNING_RATES = (2e-3, 5e-4)


def trec6(seed: int) -> tuple[Any, ...]:
    return trec50(seed, coarse=True)


TASKS = {
    "japanese-vowels": japanese_vowels,
    "japanese-vowels-01": japanese_vowels_unit,
    "memory-60": memory,
    "trec-50": trec50,
}
EXTRA_TASKS = {"trec-6": trec6}  # not in the default run: the demo's task, for comparison


def run_task(name: str, seed: int, quick: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    train, val, test, model, opts = {**TASKS, **EXTRA_TASKS}[name](seed)
    if quick:
        opts = {
            k: max(1, v // 5) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in opts.items()
        }
    # the learning rate is chosen on validation accuracy only, among LEARNING_RATES (or the
    # task's own list)
    rates = opts.pop("learning_rates", LEARNING_RATES)
    best = None
    for lr in rates:
        cand = nsc.constrain(
            model, train, val=val, seed=seed, lr=lr, progress=False, verbose=False, **opts
        )
        if best is None or cand.summary.val_accuracy > best.summary.val_accuracy:
            best, best_lr = cand, lr
    net = best
    r = ladder(model, net, test, calibration=train, task=name)
    r["seconds_total"] = time.perf_counter() - t0
    r["learning_rate"] = best_lr
    r["float_accuracy_torch"] = float_accuracy(model, test)
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a fifth of the epochs (smoke run)")
    p.add_argument("--reports", help="write each task's ladder report under this directory")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in args.tasks.split(","):
        r = run_task(name, args.seed, args.quick)
        if args.reports:
            from nsc.train.constrain.report import write_report

            write_report(Path(args.reports) / name, r)

        def pct(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.1f}%"

        print(
            f"{name}: float {pct(r['float_accuracy'])}  ptq {pct(r['ptq_accuracy'])}  "
            f"constrained {pct(r['constrained_accuracy'])}  spiking "
            f"{pct(r['spiking_accuracy'])}  agreement {pct(r['agreement'])}  cores "
            f"{r['cores']}  lr {r['learning_rate']:g}  {r['seconds_total']:.0f} s"
            + (f"  (ptq: {r['ptq_note']})" if r["ptq_note"] else ""),
            flush=True,
        )
        rows.append(
            {
                "name": name,
                "float_accuracy": r["float_accuracy"],
                "ptq_accuracy": r["ptq_accuracy"],
                "constrained_accuracy": r["constrained_accuracy"],
                "spiking_accuracy": r["spiking_accuracy"],
                "agreement": r["agreement"],
                "cores": r["cores"],
                "seconds": r["seconds_total"],
            }
        )
    print(json.dumps({"tasks": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
