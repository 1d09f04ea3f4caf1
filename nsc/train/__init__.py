"""Train-and-constrain for any model: :mod:`nsc.train.constrain` (``nsc.constrain``).

The TREC demo's own trainer (the seed paper's topology, GloVe inputs) lives apart, in
:mod:`nsc.demos.trec`.
"""
