"""Fidelity to the source model: how far each lossy step moved the function (issue 11).

``nsc verify`` proves the spiking cores compute the integer model exactly. What it cannot say
is how far that integer model is from the float model the user trained: quantization is lossy
by design, and split-fanin changes the function again when a neuron has more inputs than a
crossbar holds (a tree of partial sums each saturates on its own). :func:`measure` runs the
stages of a compilation on the example inputs and reports, per lossy step, the share of
predictions (argmax of the outputs, at the steps the model returns) that stayed the same and
the relative output error; :class:`FidelityWarning` is raised for every step that changed
predictions beyond what was asked for.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import FidelityWarning, InterpretError
from .ir import Graph, Output
from .ir.interpret import interpret
from .ir.nodes import level_index

MAX_SAMPLES = 64
"""Example inputs used (the first ones): the interpreter simulates every tick."""
QUANTIZE_WARN_BELOW = 0.9
"""Warn when fewer than this share of predictions survive quantization."""


@dataclass
class StepFidelity:
    """One lossy step: ``before`` -> ``after`` on the same inputs."""

    step: str
    before: str
    after: str
    agreement: float  # share of predictions (argmax) unchanged
    relative_error: float  # ||a*after - before|| / ||before||, best scale a >= 0

    def line(self) -> str:
        return (
            f"{self.step}: {self.agreement:.1%} of predictions kept "
            f"({self.before} -> {self.after}), relative output error {self.relative_error:.3f}"
        )


@dataclass
class Fidelity:
    """How far the compiled integer model is from the source model, step by step."""

    samples: int
    steps: list[StepFidelity] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        """Share of predictions of the final integer model equal to the source model's (the
        last step is the overall one when there are several)."""
        if not self.steps or self.steps[0].before != "float":
            return None
        return self.steps[-1].agreement

    def summary(self) -> str:
        if not self.steps:
            return "fidelity: not measured (no float model or no example input)"
        lines = [f"fidelity to the source model on {self.samples} example input(s):"]
        lines += [f"  {s.line()}" for s in self.steps]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_markdown_(self) -> str:
        return f"```\n{self.summary()}\n```"

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "steps": [s.__dict__ for s in self.steps],
            "warnings": list(self.warnings),
        }


def measure(stages: dict[str, Graph], example_input: Any, *, warn: bool = True) -> Fidelity:
    """Fidelity of the stages of one compilation on (the first :data:`MAX_SAMPLES` of)
    ``example_input``: float model -> integer model (quantize), and integer model before ->
    after split-fanin. Steps whose graphs are missing are skipped."""
    if example_input is None:
        return Fidelity(0)
    batches = _batches(example_input)
    report = Fidelity(sum(int(x.shape[0]) for x in batches))
    float_graph = _stage(stages, "network", "network")
    unsplit = _stage(stages, "integer", "scheduled", last=True)  # delays scheduled
    split = _stage(stages, "fanin", "encoded")
    if float_graph is None and unsplit is None:
        return report
    outputs: dict[str, np.ndarray] = {}
    for name, g in (("float", float_graph), ("integer", unsplit), ("split", split)):
        if g is None:
            continue
        try:
            outputs[name] = np.concatenate([_returned(g, x) for x in batches])
        except InterpretError as err:  # e.g. float inputs where activities are expected
            report.warnings.append(f"fidelity of the {name} model not measured: {err}")
    if "float" in outputs and "integer" in outputs:
        step = _compare("quantize", "float", "integer", outputs["float"], outputs["integer"])
        report.steps.append(step)
        if step.agreement < QUANTIZE_WARN_BELOW:
            report.warnings.append(
                f"quantization kept only {step.agreement:.1%} of the float model's predictions "
                "on the example inputs; train under the hardware's constraints with "
                "nsc.constrain to recover the accuracy"
            )
    if "integer" in outputs and "split" in outputs:
        step = _compare("split-fanin", "unsplit", "split", outputs["integer"], outputs["split"])
        if step.agreement < 1.0 or step.relative_error > 0:
            report.steps.append(step)
            report.warnings.append(
                f"split-fanin changed the function: {1 - step.agreement:.1%} of predictions "
                "differ from the unsplit integer network (a neuron has more inputs than "
                "max_fanin, and each partial sum saturates on its own); train with a fan-in "
                "mask (nsc.constrain(..., max_fanin=...)) or raise max_fanin"
            )
    final = outputs.get("split", outputs.get("integer"))
    if "float" in outputs and final is not None and len(report.steps) > 1:
        report.steps.append(_compare("overall", "float", "final integer", outputs["float"], final))
    if warn:
        for message in report.warnings:
            warnings.warn(message, FidelityWarning, stacklevel=3)
    return report


def _stage(stages: dict[str, Graph], lo: str, hi: str, *, last: bool = False) -> Graph | None:
    """The first (or last) stage whose level is in ``[lo, hi]``."""
    found = [
        g for g in stages.values() if level_index(lo) <= level_index(g.level) <= level_index(hi)
    ]
    if not found:
        return None
    return found[-1] if last else found[0]


def _batches(example_input: Any) -> list[np.ndarray]:
    """At most :data:`MAX_SAMPLES` sequences, as batches of one length each."""
    given = example_input if isinstance(example_input, list) else [example_input]
    out, left = [], MAX_SAMPLES
    for batch in given:
        x = np.asarray(batch, dtype=np.float64)
        x = x[None] if x.ndim == 2 else x
        if left > 0 and x.shape[0]:
            out.append(x[:left])
            left -= out[-1].shape[0]
    return out


def _returned(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The outputs the model returns, one row per prediction: (rows, outputs) float64."""
    outs = [o.name for o in graph.of_type(Output)]
    y = np.asarray(interpret(graph, x)[outs[0]], dtype=np.float64)
    y = y[:, -1:] if graph.attrs.get("readout") == "last" else y
    return y.reshape(-1, y.shape[-1])


def _compare(step: str, a_name: str, b_name: str, a: np.ndarray, b: np.ndarray) -> StepFidelity:
    agree = float(np.mean(a.argmax(axis=-1) == b.argmax(axis=-1))) if a.size else 1.0
    denom = float(np.sum(b * b))
    scale = max(float(np.sum(a * b)) / denom, 0.0) if denom > 0 else 0.0
    norm = float(np.linalg.norm(a))
    error = float(np.linalg.norm(scale * b - a)) / norm if norm > 0 else 0.0
    return StepFidelity(step, a_name, b_name, agree, error)
