"""The Python facade is discoverable (issue 11 item 7): real signatures and docstrings, type
information shipped, lazy loading that keeps `import nsc` light."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import nsc


def test_compile_shows_its_options() -> None:
    params = inspect.signature(nsc.compile).parameters
    assert {"levels", "max_fanin", "pipeline", "chips", "time_limit", "effort", "fidelity"} <= set(
        params
    )
    assert "example_input" in (nsc.compile.__doc__ or "")
    assert set(inspect.signature(nsc.constrain).parameters) >= {"train", "val", "max_fanin"}


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in nsc.__all__:
        value = getattr(nsc, name)
        assert value.__doc__, name
    assert set(nsc.__all__) <= set(dir(nsc))


def test_package_ships_type_information() -> None:
    assert (Path(nsc.__file__).parent / "py.typed").is_file()


def test_import_nsc_does_not_load_the_compiler_or_torch() -> None:
    code = "import sys, nsc; print('nsc.compiler' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
