"""The graph container: named nodes in order, edges given by operands; cycles are legal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import networkx as nx

from nsc_runtime import hw

from ..errors import IRVerifyError
from .nodes import LEVELS, Core, Neurons, Node, attribute_fields, level_index

N = TypeVar("N", bound=Node)


@dataclass(eq=False)
class Graph:
    """An ordered set of uniquely named nodes plus graph attributes.

    Attributes (``attrs``): ``level`` (the IR level, one of :data:`nsc.ir.nodes.LEVELS`),
    ``pipeline`` (the pass pipeline that produced it, so a dump resumes exactly), ``window``
    (ticks per sequence step, default the longest delay, 15), ``levels``, ``readout``,
    ``output_scale`` (set by quantize) and any other integer or string settings a pass
    records. Node order is the order of definition; it is
    kept by the printer, so a text file round-trips.
    """

    name: str = "main"
    nodes: dict[str, Node] = field(default_factory=dict)
    attrs: dict[str, int | str] = field(default_factory=dict)

    # -- building -----------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        if node.name in self.nodes:
            raise IRVerifyError(node.name, "a node with this name already exists", node.span)
        self.nodes[node.name] = node
        return node

    def fresh_name(self, base: str) -> str:
        """``base`` if unused, else ``base_1``, ``base_2``..."""
        if base not in self.nodes:
            return base
        i = 1
        while f"{base}_{i}" in self.nodes:
            i += 1
        return f"{base}_{i}"

    def copy(self) -> Graph:
        """A shallow copy: a new node dict (passes replace nodes, never mutate them)."""
        return Graph(self.name, dict(self.nodes), dict(self.attrs))

    # -- reading ------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise IRVerifyError(name, "no node of this name in the graph") from None

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self.nodes.values()))

    def __len__(self) -> int:
        return len(self.nodes)

    def of_type(self, cls: type[N]) -> list[N]:
        return [n for n in self.nodes.values() if isinstance(n, cls)]

    def neurons(self, name: str) -> Neurons:
        """The :class:`Neurons` node ``name`` (raises :class:`IRVerifyError` otherwise)."""
        node = self[name]
        if not isinstance(node, Neurons):
            raise node.fail("expected a neurons node here")
        return node

    def users(self, name: str) -> list[Node]:
        """The nodes that read ``name`` (in graph order)."""
        return [n for n in self.nodes.values() if name in n.operands()]

    def dataflow(self) -> nx.DiGraph[str]:
        """The graph as a networkx view: one vertex per node name (in order), an edge
        ``operand -> node`` for every operand. Synapse nodes give the spiking recurrence:
        ``source -> synapses`` and ``target -> synapses``."""
        view: nx.DiGraph[str] = nx.DiGraph()
        view.add_nodes_from(self.nodes)
        view.add_edges_from(
            (ref, node.name)
            for node in self.nodes.values()
            for ref in node.operands()
            if ref in self.nodes
        )
        return view

    @property
    def window(self) -> int:
        return int(self.attrs.get("window", hw.DELAY_MAX))

    @property
    def level(self) -> str:
        """The IR level: the ``level`` attribute, which every pass and frontend records. A
        hand-written graph without it is at the lowest level its ops allow."""
        recorded = self.attrs.get("level")
        if recorded is not None:
            return str(recorded)
        lowest = max((level_index(n.lowest_level()) for n in self.nodes.values()), default=0)
        return LEVELS[lowest]

    def cores(self) -> list[Core]:
        return self.of_type(Core)

    # -- checking -----------------------------------------------------------------------
    def verify(self) -> None:
        """Check every node's operands exist, then each node's own rules."""
        for node in self.nodes.values():
            for ref in node.operands():
                if ref not in self.nodes:
                    raise node.fail(f"operand %{ref} is not defined in this graph")
            for f in attribute_fields(type(node)):  # sizes read shape[0] of these arrays
                value = getattr(node, f.name)
                if f.metadata["kind"] == "array" and value is not None and value.ndim == 0:
                    raise node.fail(f"{f.name} must have at least one dimension")
        self._check_acyclic()
        self._check_level()
        for node in self.nodes.values():
            try:
                node.verify(self)
            except RecursionError:
                raise node.fail(
                    "the sizes of its operands depend on each other (a cycle needs a neurons node)"
                ) from None
        n_cores = len(self.cores())
        for idx, core in enumerate(self.cores()):
            bad = (core.dest_core >= n_cores) | (core.dest_core < -1)
            if bad.any():
                j = int(bad.argmax())
                raise core.fail(
                    f"neuron {j} targets core {int(core.dest_core[j])}, "
                    f"but the graph has {n_cores} cores (core {idx} is this one)"
                )

    def _check_level(self) -> None:
        """A recorded level is a contract: every node must belong at it. (A graph built by
        hand without ``level`` may mix levels; the interpreter runs it all the same.)"""
        if "level" not in self.attrs:
            return
        level = self.level
        if level not in LEVELS:
            raise IRVerifyError("graph", f"level {level!r} is not one of {', '.join(LEVELS)}", None)
        at = level_index(level)
        for node in self.nodes.values():
            lo, hi = node.level_range
            if not level_index(lo) <= at <= level_index(hi):
                span = f"{lo}" if lo == hi else f"{lo} to {hi}"
                raise node.fail(
                    f"a {node.op} node belongs at level {span}, but the graph is at level {level}"
                )

    def _check_acyclic(self) -> None:
        """Operands must not form a cycle: recurrence is expressed by synapse nodes, whose
        operands (source, target) are neuron populations, which have no operands."""
        try:
            cycle = nx.find_cycle(self.dataflow())
        except nx.NetworkXNoCycle:
            return
        raise self.nodes[cycle[0][0]].fail(
            "its operands form a cycle; only neurons (through synapses) may recur"
        )

    def same_as(self, other: Graph) -> bool:
        """Structural equality (names, order, attributes and every node field)."""
        if self.name != other.name or self.attrs != other.attrs:
            return False
        if list(self.nodes) != list(other.nodes):
            return False
        return all(a.same_as(b) for a, b in zip(self.nodes.values(), other.nodes.values()))
