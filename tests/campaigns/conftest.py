"""Make ``benchmarks/campaigns.py`` (the campaigns, shared with the benchmark script)
importable whatever pytest's import mode."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
