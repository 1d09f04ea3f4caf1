"""Demonstrations built on nsc, apart from the compiler library: :mod:`nsc.demos.trec`
(train-and-constrain on TREC question classification, the seed paper's task)."""
