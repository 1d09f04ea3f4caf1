"""The NIR bridge: spiking networks from the NIR ecosystem (snnTorch, Norse, Sinabs, Rockpool,
Lava-dl) onto nsc cores, and nsc networks out to NIR. See docs/nir.md.

- :func:`from_nir` (and :func:`import_nir`, which also returns an :class:`ImportReport`): a
  ``nir.NIRGraph`` or a ``.nir`` file -> a neuron-level :class:`nsc.ir.Graph` (one NIR time
  step = one tick, graph attributes ``window = 1`` and ``level = "scheduled"``), ready for
  ``nsc.compile``. What is exact and what is approximated is reported, never silent.
- :func:`to_nir`: a neuron-level nsc graph (or a :class:`nsc.Compiled`) -> ``nir.NIRGraph``
  (Input, Linear/Affine, Delay, IF, Output), with nsc's exact neuron parameters kept as node
  metadata, so that nsc -> NIR -> nsc gives an identical graph.

The ``nir`` package is imported only when one of these functions is called.
"""

from __future__ import annotations

from .exporter import to_nir, write_nir
from .importer import ImportReport, NodeFidelity, from_nir, import_nir

__all__ = ["ImportReport", "NodeFidelity", "from_nir", "import_nir", "to_nir", "write_nir"]
