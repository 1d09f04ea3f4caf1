"""The graphs behind the golden files in ``golden/``, built directly from node classes.

The golden tests check both directions: each golden file parses to a graph ``same_as`` the one
built here, and prints back byte for byte. After an intended change of the text format,
regenerate the files with ``PYTHONPATH=.:runtime python tests/text/nsir_graphs.py`` and
review the diff.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from nsc.ir import (
    AxonSynapses,
    Core,
    CoreInput,
    CoreOutput,
    ElmanRNN,
    Graph,
    Input,
    Linear,
    Neurons,
    Output,
    QLinear,
    ReLU,
    SpikeCount,
    Synapses,
)
from nsc.ops.host_input import Embed, QuantizeInput
from nsc.text import print_ir
from nsc_runtime import hw

GOLDEN_DIR = Path(__file__).with_name("golden")


def network_rnn() -> Graph:
    """Network level: a float Elman RNN with a linear readout and a ReLU."""
    g = Graph(name="rnn")
    g.add(Input("x", features=2))
    g.add(
        ElmanRNN(
            "h",
            source="x",
            w_ih=[[0.5, -0.25], [0.125, 1.0], [-1.5, 0.75]],
            w_hh=[[0.1, 0.0, -0.2], [0.3, 0.4, 0.0], [0.0, -0.5, 0.6]],
            bias=[0.01, 0.0, -0.03],
        )
    )
    g.add(Linear("z", source="h", weight=[[1.0, -1.0, 0.5], [0.25, 0.0, 2.0]], bias=[0.0, 0.1]))
    g.add(ReLU("r", source="z"))
    g.add(Output("y", source="r"))
    return g


def integer_rnn() -> Graph:
    """Integer level: populations, both kinds of synapses, spike counts and a host readout."""
    g = Graph(name="rnn", attrs={"levels": 16, "window": 15})
    g.add(Input("x", features=2, levels=16))
    h = Neurons.relu("h", alpha=[12, 9, 15], leak=[0, -1, 2])
    h.type_weights = np.array([[3, -2, 1, 0], [1, 1, -1, 2], [0, 4, -3, 1]], np.int32)
    g.add(h)
    g.add(Synapses("h_in", source="x", target="h", weight=[[2, -1], [0, 3], [-4, 1]], delay=[0, 0]))
    g.add(
        AxonSynapses(
            "h_rec",
            source="h",
            target="h",
            axon_source=[0, 1, 1, 2],
            axon_type=[0, 1, 2, 3],
            crossbar=[
                [True, False, True, False],
                [False, True, True, True],
                [True, True, False, False],
            ],
            delay=[1, 1, 1],
        )
    )
    g.add(SpikeCount("c", source="h", offset=1))
    g.add(QLinear("q", source="c", weight=[[1, -2, 3], [0, 5, -1]], bias=[4, -4]))
    g.add(Output("y", source="q"))
    return g


def core_level() -> Graph:
    """Core level: one real 256 x 256 core fed from the host and read out by spike counts."""
    rng = np.random.default_rng(2024)
    n, a = hw.NEURONS_PER_CORE, hw.AXONS_PER_CORE
    g = Graph(name="chip", attrs={"levels": 16, "window": 15, "target": "truenorth"})
    g.add(Input("x", features=4, levels=16))
    lines = np.array([[k, 0, 2 * k] for k in range(4)] + [[k, 0, 2 * k + 1] for k in range(4)])
    g.add(CoreInput("x_in", source="x", lines=lines, delay=1))
    g.add(
        Core(
            "core0",
            x=3,
            y=5,
            axon_types=rng.integers(0, hw.AXON_TYPES, a),
            crossbar=rng.random((a, n)) < 0.1,
            weights=rng.integers(-16, 17, (n, hw.AXON_TYPES)),
            alpha=rng.integers(1, 64, n),
            leak=rng.integers(-2, 3, n),
            beta=np.zeros(n),
            kappa=np.ones(n),
            reset_mode=np.full(n, hw.RESET_LINEAR),
            reset=np.zeros(n),
            v0=np.zeros(n),
            tm=np.zeros(n),
            leak_reversal=np.zeros(n),
            stoch_leak=np.zeros(n),
            stoch_synapse=np.zeros(n),
            dest_core=np.where(np.arange(n) < 128, 0, -1),
            dest_axon=np.arange(n) % a,
            delay=np.ones(n),
            seed=7,
        )
    )
    g.add(CoreOutput("y", lines=[[0, 200], [0, 201], [0, 202]], offset=2))
    return g


def edge_cases() -> Graph:
    """Quoted names, escaped strings, extreme floats, long and multi-line arrays, odd hex."""
    g = Graph(name="edge cases", attrs={"note": 'tab\t"quote" é', "window": 15, "levels": 4})
    g.add(Input("in.0", features=3))
    weight = np.linspace(-1.0, 1.0, 24).reshape(8, 3)
    weight[0] = [-0.0, 1e-300, 5e-324]
    weight[1] = [1.7976931348623157e308, -2.2250738585072014e-308, 0.1]
    g.add(Linear("layer 1", source="in.0", weight=weight))
    g.add(ReLU("$r-1", source="layer 1"))
    g.add(Output("out", source="$r-1"))
    g.add(Input("q", features=5, levels=4))
    pop = Neurons.relu("pop", alpha=np.arange(1, 21), leak=np.zeros(20, np.int32))
    pop.type_weights = np.tile(np.array([1, -1, 0, 2], np.int32), (20, 1))
    g.add(pop)
    g.add(
        AxonSynapses(
            "odd",
            source="q",
            target="pop",
            axon_source=[0, 1, 2, 3, 4],
            axon_type=[0, 0, 1, 2, 3],
            crossbar=(np.arange(100).reshape(20, 5) % 3) == 0,
            delay=[0, 0, 0, 0, 0],
        )
    )
    return g


def host_inputs() -> Graph:
    """Host input ops: float features quantized per feature, token ids through an embedding."""
    g = Graph(name="host_inputs", attrs={"levels": 4, "window": 3})
    g.add(Input("x", features=2))
    g.add(QuantizeInput("xq", source="x", scale=[2.5, 0.5], offset=[0.5, -1.25], levels=4))
    g.add(Input("ids", features=1))
    g.add(Embed("emb", source="ids", table=[[0, 3], [1, 2], [3, 0]]))
    g.add(Output("q_out", source="xq"))
    g.add(Output("e_out", source="emb"))
    return g


GOLDEN: dict[str, Callable[[], Graph]] = {
    "network.nsir": network_rnn,
    "integer.nsir": integer_rnn,
    "core.nsir": core_level,
    "edge.nsir": edge_cases,
    "host_inputs.nsir": host_inputs,
}


def write_golden() -> None:
    """Rewrite every golden file from the graphs above."""
    for name, build in GOLDEN.items():
        (GOLDEN_DIR / name).write_text(print_ir(build()), encoding="utf-8")


if __name__ == "__main__":
    write_golden()
