"""Backend: core-level IR <-> :class:`nsc_runtime.Corelet` (the binary is nsc_runtime.format).

The corelet holds the on-chip part; the host part (input, host layers, output, and the port
wiring) travels inside it as IR text in ``metadata["host_ir"]`` so a saved corelet can be
verified and run on its own.
"""

from __future__ import annotations

import numpy as np

from nsc_runtime import NEURON_FIELDS, Corelet, Port, hw

from ..errors import NscError
from ..ir import Core, CoreInput, CoreOutput, Graph


def to_corelet(graph: Graph, chips: tuple[int, int] = (1, 1)) -> Corelet:
    """Build the corelet of a core-level graph (deterministic: same graph, same corelet)."""
    cores = graph.of_type(Core)
    if not cores:
        raise NscError("the graph has no cores: run the pipeline through lower-to-cores")
    corelet = Corelet.empty(len(cores), chips=chips)
    for c, core in enumerate(cores):
        corelet.axon_types[c] = core.axon_types
        corelet.crossbar[c] = core.crossbar
        for name, dtype in NEURON_FIELDS.items():
            corelet.neurons[name][c] = getattr(core, name).astype(dtype)
        corelet.position[c] = (core.x, core.y)
        corelet.seeds[c] = core.seed
    for node in graph.of_type(CoreInput):  # line k = host feature k: its (core, axon) rows
        n_lines = node.size(graph)
        order = np.argsort(node.lines[:, 0], kind="stable")
        offsets = np.zeros(n_lines + 1, np.int64)
        np.cumsum(np.bincount(node.lines[:, 0], minlength=n_lines), out=offsets[1:])
        entries = node.lines[order, 1:].astype(np.int32)
        corelet.inputs.append(Port.from_arrays(node.name, entries, offsets))
    for out in graph.of_type(CoreOutput):  # line k = one neuron
        entries = out.lines.astype(np.int32)
        offsets = np.arange(entries.shape[0] + 1, dtype=np.int64)
        corelet.outputs.append(Port.from_arrays(out.name, entries, offsets))
    side = hw.CORES_PER_CHIP_SIDE
    rows = int(corelet.position[:, 1].max()) // side + 1
    cols = int(corelet.position[:, 0].max()) // side + 1
    corelet.chips = (max(chips[0], rows), max(chips[1], cols))
    return corelet


def host_graph(graph: Graph) -> Graph:
    """The graph without its cores: what the host computes around the corelet."""
    host = Graph(graph.name, attrs=dict(graph.attrs))
    for node in graph:
        if not isinstance(node, Core):
            host.add(node)
    return host


def from_corelet(corelet: Corelet, host: Graph) -> Graph:
    """The core-level graph of a corelet plus its host program (inverse of :func:`to_corelet`)."""
    graph = Graph(host.name, attrs=dict(host.attrs))
    for c in range(corelet.n_cores):
        neuron = {name: corelet.neurons[name][c] for name in NEURON_FIELDS}
        graph.add(
            Core(
                f"core{c}",
                x=int(corelet.position[c, 0]),
                y=int(corelet.position[c, 1]),
                seed=int(corelet.seeds[c]),
                axon_types=corelet.axon_types[c],
                crossbar=corelet.crossbar[c],
                **neuron,
            )
        )
    for node in host:
        graph.add(node)
    return graph
