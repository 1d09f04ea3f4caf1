"""Frontends: a trained model -> network-level (or integer-level) IR.

- a ``torch.export`` program (an ``ExportedProgram``, or the ``GraphModule`` of ATen operators
  its ``module()`` gives, as a ``.pt2`` file loads): :mod:`nsc.frontend.torch_export`, the same
  IR as for the module exported;
- ``torch.nn.Module`` built from nn.Linear, nn.ReLU, nn.RNN (Elman) and a readout: traced
  with torch.fx (:mod:`nsc.frontend.torch_fx`);
- a constrained model of the TREC demo (:mod:`nsc.demos.trec`, anything with
  ``export_integer_params()``) or the dict it exports: lowered straight to the exact integer network
  (:mod:`nsc.frontend.params`), no quantization loss;
- anything with ``nsc_graph()`` (a constrained model): the exact integer graph it returns;
- an :class:`nsc.ir.Graph` (for example parsed from an edited ``.nsir`` file): used as is.
"""

from __future__ import annotations

from typing import Any

from ..errors import FrontendError
from ..ir import Graph


def to_graph(model: Any, example_input: Any = None) -> Graph:
    """Lower ``model`` to IR (see the module docstring for what is accepted)."""
    if isinstance(model, Graph):
        return model
    if hasattr(model, "nsc_graph"):
        graph = model.nsc_graph()
        if not isinstance(graph, Graph):
            raise FrontendError(f"{type(model).__name__}.nsc_graph() must return an nsc.ir.Graph")
        return graph
    if type(model).__name__ == "NIRGraph" and type(model).__module__.startswith("nir"):
        from ..nir import from_nir

        return from_nir(model)
    if isinstance(model, dict):
        from .params import from_params

        return from_params(model)
    if hasattr(model, "export_integer_params"):
        from .params import from_params

        return from_params(model.export_integer_params())
    try:
        import torch
    except ImportError as err:  # pragma: no cover - torch is a dependency
        raise FrontendError("compiling a PyTorch model needs torch installed") from err
    from .torch_export import from_export, is_exported

    if is_exported(model):
        return from_export(model, example_input)
    if isinstance(model, torch.nn.Module):
        from .torch_fx import from_torch

        return from_torch(model, example_input)
    raise FrontendError(
        f"cannot compile a {type(model).__name__}: pass a torch.nn.Module, an nsc.ir.Graph, "
        "or the dict of nsc.demos.trec.export_integer_params()"
    )
