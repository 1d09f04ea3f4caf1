"""nsir, the textual form of the graph IR: ``parse_ir``, ``parse_ir_file`` and ``print_ir``
(and ``read_ir_text``, the checked UTF-8 read that ``parse_ir_file`` uses).

The format is canonical: ``print_ir(parse_ir(text)) == text`` for text that ``print_ir``
wrote, and ``parse_ir(print_ir(graph)).same_as(graph)`` for every graph. See ``docs/ir.md``.
"""

from .parser import parse_ir, parse_ir_file, read_ir_text
from .printer import VERSION, print_ir

__all__ = ["VERSION", "parse_ir", "parse_ir_file", "print_ir", "read_ir_text"]
