"""nsc_runtime: load a corelet binary and run it tick by tick, bit-exactly. Needs only numpy."""

from .corelet import NEURON_FIELDS, Corelet, Port, PortLines
from .errors import CoreletError, CoreletFormatError, NscError

__all__ = [
    "NEURON_FIELDS",
    "Corelet",
    "CoreletError",
    "CoreletFormatError",
    "NscError",
    "Port",
    "PortLines",
]
