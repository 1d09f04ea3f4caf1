"""Gated recurrent layers (issue 14): nn.GRU / nn.LSTM as float ops, their lowering to the
hardware-native gated unit (docs/gated-units.md), exactness of the compiled network, the
per-tick equations checked against an independent numpy implementation, golden IR text, and
the errors for what stays unsupported."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nsc
from nsc.errors import FrontendError
from nsc.frontend import to_graph
from nsc.ir import Graph, Input, Linear, Neurons, Output, SpikeCount, Synapses
from nsc.ir.interpret import interpret, run_trace
from nsc.ops.gated import GRU, LSTM
from nsc.passes.pipeline import Context, parse_pipeline, run_pipeline

GOLDEN = Path(__file__).with_name("golden") / "gated.nsir"
W = 15  # the window at 16 levels


class Seq(torch.nn.Module):
    """A gated layer (GRU or LSTM) and a linear readout of its last step."""

    def __init__(
        self,
        cell: str = "GRU",
        n_in: int = 3,
        hidden: int = 4,
        layers: int = 1,
        batch_first: bool = True,
        **kw: object,
    ) -> None:
        super().__init__()
        cls = torch.nn.GRU if cell == "GRU" else torch.nn.LSTM
        self.batch_first = batch_first
        self.rnn = cls(n_in, hidden, num_layers=layers, batch_first=batch_first, **kw)
        self.out = torch.nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o, _ = self.rnn(x)
        return self.out(o[:, -1] if self.batch_first else o[-1])


def activities(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 16, shape).astype(np.float32)


def integer_graph(graph: Graph, x: np.ndarray) -> Graph:
    """quantize + insert-delays: the scheduled integer graph."""
    passes = parse_pipeline("quantize,insert-delays")
    return run_pipeline(graph, passes, Context(example_input=x))


# ---------------------------------------------------------------------------------------------
# frontend and float semantics


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_float_ops_compute_what_torch_computes(cell: str, batch_first: bool) -> None:
    torch.manual_seed(1)
    model = Seq(cell, layers=2, batch_first=batch_first).eval()
    x = np.random.default_rng(0).normal(size=(3, 6, 3))
    graph = to_graph(model, x)
    names = [n.name for n in graph if isinstance(n, (GRU, LSTM))]
    assert names == ["rnn_l0", "rnn_l1"]
    got = interpret(graph, x)
    (out,) = got.values()
    xt = torch.tensor(x, dtype=torch.float32)
    with torch.no_grad():
        want = model(xt if batch_first else xt.transpose(0, 1)).numpy()
    assert np.allclose(out[:, -1], want, atol=1e-5)


def test_bidirectional_is_refused_with_the_reason() -> None:
    model = Seq("GRU", bidirectional=True)
    with pytest.raises(FrontendError, match=r"bidirectional GRU .* needs the future"):
        to_graph(model, np.zeros((1, 2, 3)))


def test_lstm_projection_is_refused_with_the_reason() -> None:
    class Proj(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.LSTM(3, 4, proj_size=2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x)[0]

    with pytest.raises(FrontendError, match=r"proj_size=2 is not supported.*state is its output"):
        to_graph(Proj(), np.zeros((1, 2, 3)))


def test_an_activation_after_a_gated_layer_is_refused() -> None:
    g = Graph("t")
    g.add(Input("x", features=1))
    g.add(GRU("g", source="x", w_ih=np.ones((3, 1)), w_hh=np.ones((3, 1))))
    from nsc.ir import ReLU

    g.add(ReLU("r", source="g"))
    g.add(Output("y", source="r"))
    with pytest.raises(nsc.NscError, match="must follow an affine or recurrent op"):
        integer_graph(g, np.ones((1, 2, 1)))


def test_wrong_weight_shapes_fail_verification() -> None:
    g = Graph("t")
    g.add(Input("x", features=2))
    g.add(GRU("g", source="x", w_ih=np.ones((6, 2)), w_hh=np.ones((5, 2))))
    g.add(Output("y", source="g"))
    with pytest.raises(nsc.NscError, match="w_hh has shape"):
        g.verify()


# ---------------------------------------------------------------------------------------------
# exactness: compile -> verify


@settings(max_examples=4, deadline=None)
@given(
    cell=st.sampled_from(["GRU", "LSTM"]),
    n_in=st.integers(1, 3),
    hidden=st.integers(1, 3),
    layers=st.integers(1, 2),
    batch_first=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_compiled_gated_networks_verify_exactly(
    cell: str, n_in: int, hidden: int, layers: int, batch_first: bool, seed: int
) -> None:
    torch.manual_seed(seed)
    model = Seq(cell, n_in, hidden, layers, batch_first).eval()
    x = activities(seed, (4, 5, n_in))
    compiled = nsc.compile(model, x, effort="fast", fidelity=False)
    report = nsc.verify(compiled, activities(seed + 1, (4, 7, n_in)))
    assert report.agreement == 1.0 and report.outputs_compared == 4 * 7 * 2


# ---------------------------------------------------------------------------------------------
# the per-tick equations, implemented independently in numpy


def hgu_reference(
    x: np.ndarray,
    wf: np.ndarray,
    uf: np.ndarray,
    wu: np.ndarray,
    uu: np.ndarray,
    alpha_f: np.ndarray,
    leak_f: np.ndarray,
    alpha_u: np.ndarray,
    leak_u: np.ndarray,
) -> np.ndarray:
    """docs/gated-units.md, for one HGU layer reading host activities ``x`` (batch, steps,
    inputs): per tick ``k`` of window ``t`` the keep gate and the write unit (ReLU-like:
    integrate, leak, fire and subtract alpha, floor 0) integrate the host burst and the state
    spikes of window ``t-1``; the state spikes ``h[t+1, k] = u[t, k] or (f[t, k] and h[t, k])``;
    the layer's output for step ``t`` is the state's spike count in window ``t+1``."""
    batch, steps, _ = x.shape
    hidden = wf.shape[0]
    windows = steps + 1
    f = np.zeros((batch, windows, W, hidden), bool)
    u = np.zeros_like(f)
    h = np.zeros_like(f)
    vf = np.zeros((batch, hidden), np.int64)
    vu = np.zeros((batch, hidden), np.int64)
    for t in range(windows):
        for k in range(W):
            burst = (x[:, t] > k) if t < steps else np.zeros((batch, x.shape[2]), bool)
            prev = h[:, t - 1, k] if t >= 1 else np.zeros((batch, hidden), bool)
            if t >= 1:
                h[:, t, k] = u[:, t - 1, k] | (f[:, t - 1, k] & h[:, t - 1, k])
            for v, wx, wh, alpha, leak, s in (
                (vf, wf, uf, alpha_f, leak_f, f),
                (vu, wu, uu, alpha_u, leak_u, u),
            ):
                v += burst.astype(np.int64) @ wx.T + prev.astype(np.int64) @ wh.T + leak
                fire = v >= alpha
                v -= np.where(fire, alpha, 0)
                v[:] = np.maximum(v, 0)
                s[:, t, k] = fire
    return h[:, 1:].sum(axis=2)


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_interpreter_runs_the_documented_per_tick_equations(cell: str) -> None:
    torch.manual_seed(7)
    model = Seq(cell, n_in=3, hidden=4).eval()
    x = activities(3, (5, 9, 3))
    g = integer_graph(to_graph(model, x), x)
    pop = g["rnn"]
    assert isinstance(pop, Neurons) and pop.count == 12
    w_in, w_rec = g["rnn_in"], g["rnn_rec"]
    assert isinstance(w_in, Synapses) and isinstance(w_rec, Synapses)
    assert set(w_in.delay) == {0} and set(w_rec.delay) == {W}
    f, u, s = slice(0, 4), slice(4, 8), slice(8, 12)
    assert not w_in.weight[s].any() and not w_rec.weight[:8, :8].any()
    want = hgu_reference(
        x.astype(np.int64),
        w_in.weight[f],
        w_rec.weight[f, s],
        w_in.weight[u],
        w_rec.weight[u, s],
        pop.alpha[f],
        pop.leak[f],
        pop.alpha[u],
        pop.leak[u],
    )
    trace = run_trace(g, x)
    (count,) = g.of_type(SpikeCount)
    assert count.source == "rnn_h" and count.offset == W
    assert np.array_equal(trace.values[count.name], want)
    assert want.max() > 0  # the case is not trivially silent


def test_a_full_keep_gate_holds_the_state_for_any_number_of_steps() -> None:
    """Keep gate always on, write unit silent after step 0: the state is held exactly."""
    hidden = 2
    wf, uf = np.zeros((hidden, 1), np.int64), np.zeros((hidden, hidden), np.int64)
    wu, uu = np.array([[1], [1]]), np.zeros((hidden, hidden), np.int64)
    x = np.zeros((1, 60, 1), np.int64)
    x[0, 0, 0] = 6
    held = hgu_reference(
        x, wf, uf, wu, uu, np.ones(2, int), np.ones(2, int), np.array([1, 2]), np.zeros(2, int)
    )
    assert np.array_equal(held[0, :, 0], np.full(60, 6))
    assert np.array_equal(held[0, :, 1], np.full(60, 3))


# ---------------------------------------------------------------------------------------------
# what the spiking unit computes compared with the float GRU (the documented approximation)


def one_unit_gru(bias_z: float) -> Graph:
    """GRU of one unit, input weight 0.05 on the candidate only, no recurrence; ``bias_z``
    sets the update gate ``z = sigmoid(bias_z)``."""
    g = Graph("t")
    g.add(Input("x", features=1))
    w_ih = np.array([[0.0], [0.0], [0.05]])
    b_ih = np.array([0.0, bias_z, 0.0])
    g.add(GRU("g", source="x", w_ih=w_ih, w_hh=np.zeros((3, 1)), b_ih=b_ih))
    g.add(Output("y", source="g"))
    return g


def spiking_state(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The HGU's state per step, in the float unit (count times the output scale)."""
    g = integer_graph(graph, x)
    (out,) = interpret(g, x).values()
    return out * float(g.attrs["output_scale"])


def test_write_mode_matches_the_float_gru_within_the_quantization() -> None:
    """z = sigmoid(-2) = 0.12: float h = 0.88 tanh(0.05 x) + 0.12 h; the HGU writes
    max(0, n - z_lin) with z_lin = 0: h ~ 0.05 x quantized to 15 levels (measured: at most
    3 levels off, where tanh bends and at step 0, where the float GRU still has 1 - z)."""
    x = np.arange(16, dtype=np.float64).reshape(16, 1, 1).repeat(3, axis=1)
    graph = one_unit_gru(-2.0)
    want = interpret(graph, x)["y"]
    got = spiking_state(graph, x)
    level = float(got.max()) / W  # one spike per window, in float units
    assert np.abs(got - want).max() < 3.5 * level  # tanh's bend, 1 - z, residue jitter
    assert np.abs(got - want).mean() < 0.8 * level


def test_keep_mode_holds_the_initial_state_like_the_float_gru() -> None:
    """z = sigmoid(6) = 0.998: the float GRU stays at h ~ 0; the write unit
    max(0, n - z_lin), z_lin = 2, never fires, so the HGU stays exactly at 0."""
    x = np.full((2, 8, 1), 15.0)
    graph = one_unit_gru(6.0)
    assert np.abs(interpret(graph, x)["y"]).max() < 0.02
    assert not spiking_state(graph, x).any()


# ---------------------------------------------------------------------------------------------
# golden IR text


def tiny_gated_graph() -> Graph:
    """Network level: a GRU of 2 units, an LSTM of 2 units on it, a linear readout."""
    rng = np.random.default_rng(14)

    def w(*shape: int) -> np.ndarray:
        return rng.integers(-8, 9, size=shape) / 8.0

    g = Graph("gated")
    g.add(Input("x", features=2))
    g.add(GRU("g", source="x", w_ih=w(6, 2), w_hh=w(6, 2), b_ih=w(6), b_hh=w(6)))
    g.add(LSTM("l", source="g", w_ih=w(8, 2), w_hh=w(8, 2), b_ih=w(8)))
    g.add(Linear("z", source="l", weight=w(2, 2), bias=w(2)))
    g.add(Output("y", source="z"))
    return g


def test_golden_gated_ir_prints_and_parses_back() -> None:
    graph = tiny_gated_graph()
    text = nsc.print_ir(graph)
    if os.environ.get("NSC_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
    again = nsc.parse_ir(text)
    again.verify()
    assert again.same_as(graph)
    assert nsc.print_ir(again) == text


def test_golden_gated_graph_quantizes_to_populations_and_compiles_exactly() -> None:
    graph = nsc.parse_ir(GOLDEN.read_text(encoding="utf-8"))
    x = activities(5, (3, 6, 2))
    g = integer_graph(graph, x)
    pops = {p.name: p.count for p in g.of_type(Neurons)}
    assert pops == {"g": 6, "g_h": 2, "l": 6, "l_h": 2}
    counts = {c.source: c.offset for c in g.of_type(SpikeCount)}
    assert counts == {"l_h": 3 * W}  # g 0, g_h 1, l 2, l_h 3 hops from the host
    compiled = nsc.compile(graph, x, effort="fast", fidelity=False)
    assert nsc.verify(compiled, activities(6, (3, 8, 2))).agreement == 1.0


# ---------------------------------------------------------------------------------------------
# the exact trainer of benchmarks/gated.py computes the compiled network's function


def test_a_gated_layer_above_max_fanin_is_refused_not_miscompiled() -> None:
    """split-fanin would split the keep gates and write units into a tree that fires a tick
    after the state neurons they gate; it refuses, naming the layer, the fan-in and what to
    change (nsc.constrain's fan-in masks compile such a layer exactly:
    tests/constrain/test_gated_constrain.py)."""
    torch.manual_seed(3)
    model = Seq("GRU", n_in=3, hidden=4).eval()
    x = activities(4, (2, 3, 3))
    with pytest.raises(nsc.NscError, match=r"%rnn is a layer of .*gated units.* 7 inputs.*max=4"):
        nsc.compile(model, x, max_fanin=4, effort="fast", fidelity=False)


@pytest.mark.parametrize("batch_first", [True, False])
def test_exported_gru_gives_the_modules_ir_and_compiles_exactly(batch_first: bool) -> None:
    torch.manual_seed(11)
    model = Seq("GRU", layers=2, batch_first=batch_first).eval()
    x = activities(12, (3, 5, 3))
    xt = torch.tensor(x if batch_first else x.transpose(1, 0, 2))
    program = torch.export.export(model, (xt,))
    graph = to_graph(program, x)
    assert graph.same_as(to_graph(model, x))
    compiled = nsc.compile(program, x, effort="fast", fidelity=False)
    assert nsc.verify(compiled, activities(13, (3, 6, 3))).agreement == 1.0


def test_exported_gru_with_a_nonzero_initial_state_is_refused() -> None:
    class H0(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.GRU(3, 4, batch_first=True)
            self.register_buffer("h0", torch.ones(1, 2, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x, self.h0)[0]

    program = torch.export.export(H0().eval(), (torch.zeros(2, 5, 3),))
    with pytest.raises(FrontendError, match="nonzero initial state"):
        to_graph(program, np.zeros((2, 5, 3)))


def test_a_linear_map_before_a_gated_layer_is_folded_into_its_units() -> None:
    class Pre(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(3, 5)
            self.rnn = torch.nn.GRU(5, 4, batch_first=True)
            self.out = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.rnn(self.fc(x))[0][:, -1])

    torch.manual_seed(5)
    model = Pre().eval()
    x = activities(14, (4, 5, 3))
    g = integer_graph(to_graph(model, x), x)
    syn = g["rnn_in"]
    assert isinstance(syn, Synapses) and syn.source == "x" and syn.weight.shape == (12, 3)
    assert [p.name for p in g.of_type(Neurons)] == ["rnn", "rnn_h"]
    compiled = nsc.compile(model, x, effort="fast", fidelity=False)
    assert nsc.verify(compiled, activities(15, (4, 6, 3))).agreement == 1.0


class LstmH(torch.nn.Module):
    """A two-layer LSTM read through its final state h_n (c_n unused)."""

    def __init__(self, batch_first: bool = True) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(3, 4, 2, batch_first=batch_first)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.rnn(x)
        return self.out(h[-1])


@pytest.mark.parametrize("batch_first", [True, False])
def test_exported_lstm_gives_the_modules_ir_and_compiles_exactly(batch_first: bool) -> None:
    torch.manual_seed(12)
    x = activities(16, (3, 5, 3))
    xt = torch.tensor(x if batch_first else x.transpose(1, 0, 2))
    for model in (Seq("LSTM", layers=2, batch_first=batch_first).eval(), LstmH(batch_first)):
        program = torch.export.export(model.eval(), (xt,))
        graph = to_graph(program, x)
        assert graph.same_as(to_graph(model, x))
        assert [n.op for n in graph if n.op == "lstm"] == ["lstm", "lstm"]
        compiled = nsc.compile(program, x, effort="fast", fidelity=False)
        assert nsc.verify(compiled, activities(17, (3, 6, 3))).agreement == 1.0


def test_exported_lstm_pt2_file_compiles(tmp_path: Path) -> None:
    torch.manual_seed(13)
    x = activities(18, (2, 4, 3))
    path = tmp_path / "lstm.pt2"
    model = LstmH().eval()
    torch.export.save(torch.export.export(model, (torch.tensor(x),)), str(path))
    from nsc.frontend.load import load_model

    program = load_model(path)
    assert to_graph(program, x).same_as(to_graph(model, x))
    compiled = nsc.compile(program, x, effort="fast", fidelity=False)
    assert nsc.verify(compiled, x).agreement == 1.0


class LstmVariant(torch.nn.Module):
    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what
        proj = 2 if what == "proj" else 0
        self.rnn = torch.nn.LSTM(3, 4, batch_first=True, proj_size=proj)
        self.out = torch.nn.Linear(proj or 4, 2)
        self.register_buffer("h0", torch.zeros(1, 2, 4))
        self.register_buffer("c0", torch.ones(1, 2, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.what == "c0":
            return self.out(self.rnn(x, (self.h0, self.c0))[0][:, -1])
        if self.what == "cn":
            return self.out(self.rnn(x)[1][1][-1])
        return self.out(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize(
    ("what", "reason"),
    [
        ("c0", "nonzero initial state c0"),
        ("cn", "final cell state c_n.*h_n"),
        ("proj", "proj_size=2.*Linear"),
    ],
)
def test_exported_lstm_refusals_name_the_reason(what: str, reason: str) -> None:
    program = torch.export.export(LstmVariant(what).eval(), (torch.zeros(2, 5, 3),))
    with pytest.raises(FrontendError, match=reason):
        to_graph(program, np.zeros((2, 5, 3)))
