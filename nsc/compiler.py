"""``nsc.compile`` and ``nsc.verify``: the short path from a trained model to a checked corelet.

frontend (model -> IR) -> passes (quantize ... lower-to-cores, verified after each) ->
backend (core-level IR -> corelet) -> runtime (Cython, tick by tick).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from nsc_runtime import Corelet, hw
from nsc_runtime.reference import COUNTERS
from nsc_runtime.spikecode import bursts, run_ticks, window_counts

from .backend import from_corelet, host_graph, to_corelet
from .errors import CoreletFormatError, NscError, VerifyMismatchError
from .io import Sequences, as_sequences, input_spec, is_packed, map_sequences
from .ir import Core, CoreInput, CoreOutput, Graph, Input, Output
from .ir.interpret import Interpreter, Trace, interpret, run_trace
from .ir.nodes import level_index
from .passes import Context, parse_pipeline, plan_pipeline, run_pipeline
from .passes.pipeline import full_plan

if TYPE_CHECKING:
    from .fidelity import Fidelity


@dataclass
class RunStats:
    """Counters of one runtime run (summed over the batch)."""

    ticks: int = 0
    synaptic_events: int = 0
    neuron_spikes: int = 0
    cross_core_spikes: int = 0
    mesh_hops: int = 0
    port_spikes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


@dataclass
class VerifyReport:
    """What ``nsc.verify`` found: agreement in [0, 1] and, per input, the first divergence."""

    agreement: float
    outputs_compared: int
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.agreement == 1.0

    def _repr_markdown_(self) -> str:
        verdict = "EXACT" if self.exact else f"MISMATCH on {len(self.mismatches)} input(s)"
        return (
            f"**verify: {verdict}**: agreement {self.agreement:.2%} over "
            f"{self.outputs_compared:,} outputs"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "agreement": self.agreement,
            "outputs_compared": self.outputs_compared,
            "mismatches": self.mismatches,
        }


class Compiled:
    """A compiled network: the IR of every stage, the corelet, and ways to run both."""

    def __init__(
        self, stages: dict[str, Graph], corelet: Corelet, host: Graph, placement: Any = None
    ) -> None:
        self.stages = stages
        self.corelet = corelet
        self.host = host
        self.placement = placement  # nsc.place.Placement (with its report), when placed
        self.fidelity: Fidelity | None = None  # distance to the source model, when measured

    def __repr__(self) -> str:
        host = self.host
        ins = ", ".join(f"{n.name}[{n.features}]" for n in host.of_type(Input))
        outs = ", ".join(f"{o.name}[{o.size(host)}]" for o in host.of_type(Output))
        return (
            f"Compiled({self.n_cores} core(s), inputs {ins or '-'}, outputs {outs or '-'}, "
            f"window {host.window} ticks, stages {', '.join(self.stages)})"
        )

    def _repr_markdown_(self) -> str:
        rows = [f"| {name} | {g.level} | {len(g)} |" for name, g in self.stages.items()]
        text = [f"**{self!r}**", "", "| stage | level | nodes |", "| --- | --- | --- |", *rows]
        if self.placement is not None:
            text += ["", f"placement: {self.placement.report.summary()}"]
        if self.fidelity is not None and self.fidelity.steps:
            text += ["", "```", self.fidelity.summary(), "```"]
        return "\n".join(text)

    # -- views ----------------------------------------------------------------------------
    @property
    def n_cores(self) -> int:
        return self.corelet.n_cores

    @property
    def integer_graph(self) -> Graph:
        """The integer network the runtime must reproduce: the last stage from quantize to
        encode-weights (for a corelet loaded from a file: its core-level graph, run by the
        interpreter)."""
        lo, hi = level_index("integer"), level_index("encoded")
        for g in reversed(list(self.stages.values())):
            if lo <= level_index(g.level) <= hi:
                return g
        return list(self.stages.values())[-1]

    def ir(self, stage: str | None = None) -> str:
        """The IR text after ``stage`` (a pass name, or ``input``); default: the last stage."""
        from .text import print_ir

        if stage is None:
            stage = list(self.stages)[-1]
        if stage not in self.stages:
            raise NscError(f"no stage {stage!r}; stages: {', '.join(self.stages)}")
        return print_ir(self.stages[stage])

    # -- running --------------------------------------------------------------------------
    def reference(self, x: Any, *, last: bool = False) -> Any:
        """Outputs of the integer network (the oracle).

        ``x``: an array (batch, steps, features), a list of (steps_i, features) sequences of
        any lengths, or a PackedSequence (:mod:`nsc.io`). Returns (batch, steps, outputs) for
        an array, a list of (steps_i, outputs) for a list; with ``last=True`` each sequence's
        own last step, (batch, outputs). Results equal running each sequence alone."""
        graph = self.integer_graph
        seqs = as_sequences(x, **input_spec(graph))
        return map_sequences(lambda xb: _single_output(interpret(graph, xb)), seqs, last=last)

    def run(
        self,
        x: Any,
        *,
        stats: bool = False,
        threads: int = 1,
        last: bool = False,
        run_batch: Callable[..., Any] | None = None,
    ) -> Any:
        """Outputs of the spiking run through the Cython runtime, same form as :meth:`reference`
        (ticks are derived from the lengths); ``stats=True`` adds the counters summed over
        every sequence: ``(y, RunStats)``. ``run_batch``: what runs the cores, with
        ``sim.run_batch``'s signature and result (default ``sim.run_batch``; e.g.
        ``nsc_runtime.distributed.run_distributed_batch`` under MPI)."""
        seqs = as_sequences(x, **input_spec(self.host))
        parts: list[RunStats] = []

        def run_group(xb: np.ndarray) -> np.ndarray:
            y, run_stats = _run_host(self.host, self.corelet, xb, threads, run_batch)
            parts.append(run_stats)
            return y

        y = map_sequences(run_group, seqs, last=last)
        return (y, _sum_stats(parts)) if stats else y

    def raster(self, x1: Any) -> np.ndarray:
        """Spikes of every neuron of the integer graph for one sequence: (ticks, neurons)."""
        trace = run_trace(self.integer_graph, _as_batch(x1)[:1], keep_spikes=True)
        assert trace.spikes is not None
        return trace.spikes[0]

    def save(self, path: str | Path) -> None:
        """Write the corelet (with its host program) atomically."""
        from nsc_runtime import format as fmt

        from .text import print_ir

        self.corelet.metadata["host_ir"] = print_ir(self.host)
        fmt.save(self.corelet, path)

    @classmethod
    def load(cls, path: str | Path) -> Compiled:
        """Read a corelet written by :meth:`save`."""
        from nsc_runtime import format as fmt

        from .text import parse_ir

        corelet = fmt.load(path)
        text = corelet.metadata.get("host_ir")
        if text is None:
            raise NscError(
                f"{path}: this corelet has no host program (host_ir); it was not "
                "written by nsc compile, run it with 'nsc run' instead"
            )
        try:
            host = parse_ir(text, f"{path}#host_ir")
            graph = from_corelet(corelet, host)
            _check_host_program(graph, corelet)
        except NscError as err:
            raise CoreletFormatError(
                f"{path}: its host program (host_ir) does not fit its cores: {err}"
            ) from None
        return cls({"lower-to-cores": graph}, corelet, host)


def _check_host_program(graph: Graph, corelet: Corelet) -> None:
    """Validate a corelet's embedded host program like user input: the core-level graph it
    forms with the cores verifies, its timing is bounded, and it describes exactly the
    corelet's ports (the corelet it would build is the one read, byte for byte)."""
    from nsc_runtime import format as fmt

    graph.verify()
    if graph.level != "core":
        raise NscError(f"the host program is at level {graph.level}, not core")
    window = graph.window
    if not 1 <= window <= hw.DELAY_MAX:
        raise NscError(f"window {window} is outside [1, {hw.DELAY_MAX}]")
    depth_max = corelet.n_cores * hw.NEURONS_PER_CORE  # no path is longer than all neurons
    for out in graph.of_type(CoreOutput):
        if out.offset > window * depth_max:
            raise NscError(
                f"%{out.name}: offset {out.offset} ticks is longer than any path through "
                f"{corelet.n_cores} core(s) can be ({window * depth_max})"
            )
    for cin in graph.of_type(CoreInput):
        if cin.delay > hw.DELAY_MAX:
            raise NscError(f"%{cin.name}: delay {cin.delay} exceeds {hw.DELAY_MAX}")
    rebuilt = to_corelet(graph, corelet.chips)
    rebuilt.metadata = dict(corelet.metadata)
    if fmt.dumps(rebuilt) != fmt.dumps(corelet):
        raise NscError("the ports or cores it describes differ from the corelet's")


def compile(
    model: Any,
    example_input: Any = None,
    *,
    levels: int | None = None,
    max_fanin: int | None = None,
    pipeline: str | None = None,
    chips: tuple[int, int] = (1, 1),
    time_limit: float = 10.0,
    effort: str = "normal",
    print_ir_after_all: bool = False,
    fidelity: bool = True,
) -> Compiled:
    """Compile ``model`` into a :class:`Compiled` network: IR of every stage, corelet, runners.

    Args:
        model: a ``torch.nn.Module`` (nn.Linear, nn.ReLU, nn.RNN with relu, a readout), a
            constrained model (anything with ``nsc_graph()``), the dict of exported integer
            parameters, a ``nir.NIRGraph``, or an :class:`nsc.ir.Graph` (e.g. a parsed
            ``.nsir`` dump of any stage).
        example_input: typical inputs, shape ``(batch, steps, features)``; quantize calibrates
            its scales on them (required for float models, whose inputs must already be
            activities in ``[0, levels)``), and fidelity is measured on them.
        levels: activity and weight levels (4..16; default: what the graph records, else 16).
        max_fanin: most inputs per neuron before split-fanin builds trees (default: what the
            graph records, else 64).
        pipeline: an explicit pass pipeline (``"quantize{levels=8},insert-delays,..."``)
            instead of the planned one.
        chips: the chip grid ``(rows, cols)`` placement may use.
        time_limit: seconds the placer may spend improving its answer.
        effort: how hard the placer tries after its first answer: ``"fast"`` (no CP-SAT),
            ``"normal"`` (small budgets that grow with the network), ``"max"``, or a budget
            multiplier; deterministic for any machine load (docs/placement.md).
        print_ir_after_all: print the IR after every pass.
        fidelity: measure (and warn about) how far the integer model is from the float model
            on the example inputs (:attr:`Compiled.fidelity`).

    The passes run are planned from the graph's level (:func:`nsc.passes.plan_pipeline`): a
    graph dumped after any stage resumes the pipeline it records, so recompiling a dump gives
    the same corelet as compiling straight through.
    """
    from .frontend import to_graph

    if isinstance(example_input, (list, tuple)) or is_packed(example_input):
        # sequences of different lengths: calibrate and measure per length, never on padding
        groups = as_sequences(example_input, name="example_input").groups()
        example_input = [batch for _, batch in groups]
    graph = to_graph(model, example_input[0] if isinstance(example_input, list) else example_input)
    graph.verify()
    if pipeline is not None:
        passes = parse_pipeline(pipeline)
    else:
        passes = plan_pipeline(graph, levels=levels, max_fanin=max_fanin)
    if effort != "normal":  # the placer's effort, on the planned place pass
        passes = [
            dataclasses.replace(cast(Any, p), effort=effort) if p.name == "place" else p
            for p in passes
        ]
    from .place import Hardware

    ctx = Context(
        example_input=example_input, hardware=Hardware(chips=chips), time_limit=time_limit
    )
    if passes:  # the input stage records the plan too, so its dump resumes it exactly
        graph = graph.copy()
        graph.attrs["level"] = graph.level
        graph.attrs["pipeline"] = full_plan(graph, passes)
    stages: dict[str, Graph] = {"input": graph}

    def record(p: Any, g: Graph) -> None:
        stages[p.name] = g
        if print_ir_after_all:
            from .text import print_ir

            print(f"// ----- IR after {p.spec()} -----")
            print(print_ir(g), end="")

    final = run_pipeline(graph, passes, ctx, after_each=record) if passes else graph
    if final.level != "core":
        raise NscError(
            f"the pipeline ends at level {final.level}, not at cores: add the passes up to "
            "lower-to-cores (see nsc.passes.default_pipeline)"
        )
    corelet = to_corelet(final, chips)
    compiled = Compiled(stages, corelet, host_graph(final), ctx.placement)
    if fidelity:
        from .fidelity import measure

        compiled.fidelity = measure(stages, example_input)
    return compiled


def verify(compiled: Compiled, x: Any) -> VerifyReport:
    """Run the integer reference and the runtime on ``x``; compare every output of every input.

    On a mismatch, the report names for each diverging input the stage that first differs
    (the core-level IR interpreted vs the integer network, or the runtime vs the core-level
    IR), and the first step and output where the values differ.
    """
    seqs = as_sequences(x, **input_spec(compiled.integer_graph))
    if seqs.ragged:  # each length on its own, inputs numbered as given
        return _verify_groups(compiled, seqs)
    xb = seqs.padded
    ref = compiled.reference(xb)
    got, stats = compiled.run(xb, stats=True)
    if ref.shape != got.shape:
        raise VerifyMismatchError(
            f"output shapes differ: reference {ref.shape}, runtime {got.shape}"
        )
    equal = ref == got
    report = VerifyReport(float(equal.mean()) if equal.size else 1.0, int(equal.size))
    bad = np.flatnonzero(~equal.reshape(equal.shape[0], -1).all(axis=1))
    if bad.size:
        lowered = compiled.stages.get("lower-to-cores")
        shown = bad[:20]
        trace = run_trace(lowered, xb[shown], keep_spikes=True) if lowered is not None else None
        for n, b in enumerate(shown):
            steps, outs = np.nonzero(~equal[b])
            entry: dict[str, Any] = {
                "input": int(b),
                "stage": "runtime",
                "step": int(steps[0]),
                "output": int(outs[0]),
                "reference": int(ref[b, steps[0], outs[0]]),
                "runtime": int(got[b, steps[0], outs[0]]),
            }
            if trace is not None and lowered is not None:
                outputs = {o.name: trace.values[o.source] for o in lowered.of_type(Output)}
                if not np.array_equal(_single_output(outputs)[n], ref[b]):
                    entry["stage"] = "lower-to-cores"
                entry.update(_first_spike_divergence(lowered, trace, n, stats, int(b)))
            report.mismatches.append(entry)
    return report


def _first_spike_divergence(lowered: Graph, trace: Any, n: int, stats: RunStats, b: int) -> dict:
    """The first tick at which an output neuron spikes differently in the core-level
    interpreter and in the runtime: ``{"tick", "core", "neuron"}`` (empty if none does)."""
    cores = lowered.of_type(Core)
    for out in lowered.of_type(CoreOutput):
        runtime = stats.port_spikes.get(out.name)
        if runtime is None:
            continue
        for line, (c, j) in enumerate(out.lines):
            lo, _ = trace.neuron_index[cores[int(c)].name]
            ref_train = trace.spikes[n, :, lo + int(j)]
            run_train = runtime[b, : ref_train.shape[0], line].astype(bool)
            diff = np.flatnonzero(ref_train[: run_train.shape[0]] != run_train)
            if diff.size:
                return {"tick": int(diff[0]), "core": int(c), "neuron": int(j)}
    return {}


# ---------------------------------------------------------------------------------------------


def _verify_groups(compiled: Compiled, seqs: Sequences) -> VerifyReport:
    """:func:`verify` of sequences of different lengths: one run per length, one report."""
    equal = compared = 0
    mismatches: list[dict[str, Any]] = []
    for idx, xb in seqs.groups():
        part = verify(compiled, xb)
        compared += part.outputs_compared
        equal += round(part.agreement * part.outputs_compared)
        for entry in part.mismatches:
            mismatches.append({**entry, "input": int(idx[entry["input"]])})
    mismatches.sort(key=lambda e: e["input"])
    return VerifyReport(equal / compared if compared else 1.0, compared, mismatches)


def _sum_stats(parts: list[RunStats]) -> RunStats:
    """The counters of several runs added up (port spikes kept only for a single run)."""
    if len(parts) == 1:
        return parts[0]
    total = RunStats()
    for part in parts:
        total.ticks += part.ticks
        for key in COUNTERS:
            setattr(total, key, getattr(total, key) + getattr(part, key))
    return total


def _as_batch(x: Any) -> np.ndarray:
    """``x`` (array, list or PackedSequence, see :mod:`nsc.io`) as one (batch, steps,
    features) array; sequences must share one length."""
    return as_sequences(x).uniform()


def _single_output(outs: dict[str, np.ndarray]) -> np.ndarray:
    if len(outs) != 1:
        raise NscError(f"expected one output, the graph has {len(outs)}")
    return next(iter(outs.values()))


class HostRunner(Interpreter):
    """The interpreter with the spiking region handed to the Cython runtime: host layers run
    in numpy, the cores run tick by tick in ``nsc_runtime``, glued by the spike code."""

    def __init__(
        self,
        host: Graph,
        corelet: Corelet,
        threads: int = 1,
        run_batch: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(host)
        self.corelet = corelet
        self.threads = threads
        self.run_batch = run_batch
        self.stats = RunStats()

    def run_spiking(
        self, values: dict[str, np.ndarray], batch: int, steps: int, trace: Trace
    ) -> dict[str, np.ndarray]:
        from nsc_runtime import sim

        window = self.graph.window
        outputs = self.graph.of_type(CoreOutput)
        ticks = run_ticks(steps, window, (o.offset for o in outputs))
        ports = {
            node.name: bursts(values[node.source], window, node.delay, ticks)
            for node in self.graph.of_type(CoreInput)
        }
        run_batch = self.run_batch or sim.run_batch
        result = run_batch(self.corelet, ports, ticks, batch=batch, threads=self.threads)
        self.stats = RunStats(ticks=ticks * batch, port_spikes=result.spikes)
        for key in COUNTERS:
            setattr(self.stats, key, int(np.sum(result.counters[key])))
        return {
            o.name: window_counts(result.spikes[o.name], window, o.offset, steps) for o in outputs
        }


def _run_host(
    host: Graph,
    corelet: Corelet,
    x: np.ndarray,
    threads: int,
    run_batch: Callable[..., Any] | None = None,
) -> tuple[Any, RunStats]:
    """Outputs of the host program around the corelet, and the runtime's counters."""
    runner = HostRunner(host, corelet, threads, run_batch)
    trace = runner.run(x)
    outs = {o.name: trace.values[o.name] for o in host.of_type(Output)}
    return _single_output(outs), runner.stats
