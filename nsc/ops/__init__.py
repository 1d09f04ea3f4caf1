"""Op families added beside the core IR ops, one module each.

An op family module declares its node classes (``@register_op`` dataclasses from
:mod:`nsc.ir.nodes`: fields, ``level_range``, the equation in the docstring, ``verify``,
``size``, and ``evaluate`` for step-level semantics). Importing :mod:`nsc.ir` imports this
package, so every registered op is known to the text parser, the printer and the interpreter
without editing anything central. See docs/contributing.md.
"""

from __future__ import annotations

from . import host_input  # noqa: F401  (registers quantize_input, embed)
