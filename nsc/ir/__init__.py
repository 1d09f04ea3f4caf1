"""The nsc graph IR: nodes, graph container, reference interpreter."""

from .graph import Graph
from .nodes import (
    NODE_TYPES,
    AxonSynapses,
    Core,
    CoreInput,
    CoreLayout,
    CoreOutput,
    Input,
    Neurons,
    Node,
    Output,
    QLinear,
    Span,
    SpikeCount,
    Synapses,
    attribute_fields,
    operand_fields,
)

__all__ = [
    "NODE_TYPES",
    "AxonSynapses",
    "Core",
    "CoreInput",
    "CoreLayout",
    "CoreOutput",
    "ElmanRNN",
    "Graph",
    "Input",
    "Linear",
    "Neurons",
    "Node",
    "Output",
    "QLinear",
    "ReLU",
    "Span",
    "SpikeCount",
    "Synapses",
    "attribute_fields",
    "operand_fields",
]

# the op families of source models register themselves on import (see nsc/ops/__init__.py)
from ..ops.dense import Linear, ReLU
from ..ops.rnn import ElmanRNN
