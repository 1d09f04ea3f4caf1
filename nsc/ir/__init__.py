"""The nsc graph IR: nodes, graph container, reference interpreter."""

from .graph import Graph
from .nodes import (
    NODE_TYPES,
    AxonSynapses,
    Core,
    CoreInput,
    CoreLayout,
    CoreOutput,
    ElmanRNN,
    Input,
    Linear,
    Neurons,
    Node,
    Output,
    QLinear,
    ReLU,
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

# op families outside this package register themselves on import (see nsc/ops/__init__.py)
from .. import ops as _ops  # noqa: F401
