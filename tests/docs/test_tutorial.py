"""docs/tutorial.md runs exactly as written (issue 11: "a test runs exactly that text").

The tutorial's fenced blocks are run in order in one temporary folder: ``python`` blocks in
one shared namespace, ``shell`` blocks line by line (``nsc ...`` through :func:`nsc.cli.main`
with the line split like a shell would, anything else through ``/bin/sh`` with the virtual
environment's ``python`` first on ``PATH``), each of which must succeed. A ``text`` block
right after a code block is the output that block prints; it is compared with what the block
printed, with every number read as "a number" (the digits shown are those we measured, and
PyTorch's float arithmetic may differ on another CPU) and runs of whitespace as one space;
``NSC_TUTORIAL_EXACT=1`` compares the digits too (to check the text after editing it).
The text's own ``assert`` lines are part of its python blocks, and the claims its prose makes
about the results are checked after the run.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
README = ROOT / "README.md"
CODE = ("python", "shell")
NSC_LINES_MAX = 19  # "to spikes and back to predictions in under 20 lines"

FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?%?")


@dataclass
class Block:
    """One fenced block of the tutorial and the line it starts on."""

    lang: str
    text: str
    line: int
    expected: str | None = None  # the text block printed right after it, if any


def blocks(markdown: str) -> list[Block]:
    """The fenced blocks in order, each ``text`` block attached to the code block before it.
    Every block must be python, shell or text (an untested language would go unnoticed)."""
    found: list[Block] = []
    for m in FENCE.finditer(markdown):
        lang, text = m.group(1), m.group(2)
        line = markdown.count("\n", 0, m.start()) + 1
        if lang not in (*CODE, "text"):
            raise ValueError(f"tutorial.md:{line}: block language {lang!r} is not run by the test")
        if lang == "text":
            if not found or found[-1].lang not in CODE or found[-1].expected is not None:
                raise ValueError(f"tutorial.md:{line}: an output block must follow a code block")
            found[-1].expected = text
            continue
        found.append(Block(lang, text, line))
    return found


def normalized(output: str, digits: bool = False) -> str:
    """Output with every number as ``#`` (unless ``digits``) and whitespace runs as one
    space."""
    return " ".join((output if digits else NUMBER.sub("#", output)).split())


def shell_commands(text: str) -> list[str]:
    """The commands of a shell block: backslash continuations joined, blanks and comments
    dropped."""
    commands: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        pending = ""
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def run_nsc(argv: list[str], out: io.StringIO) -> int:
    """``nsc ARGS`` in this process, stdout, stderr and warnings into ``out`` in the order a
    terminal shows them (``nsc.cli.main`` formats warnings as ``nsc: warning:`` lines)."""
    from nsc.cli import main

    def show(message: Any, category: Any, filename: str, lineno: int, *_: Any) -> None:
        out.write(warnings.formatwarning(message, category, filename, lineno))

    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        warnings.simplefilter("always")
        warnings.showwarning = show
        return main(argv)


def run_block(block: Block, namespace: dict[str, Any], cwd: Path) -> str:
    """Run one code block; its printed output. Fails naming the line that failed."""
    out = io.StringIO()
    where = f"tutorial.md:{block.line}"
    if block.lang == "python":
        code = compile(block.text, where, "exec")
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
        return out.getvalue()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "runtime")])
    for command in shell_commands(block.text):
        argv = shlex.split(command)
        if argv[0] == "nsc":
            rc = run_nsc(argv[1:], out)
            assert rc == 0, f"{where}: {command!r} exited {rc}:\n{out.getvalue()}"
            continue
        done = subprocess.run(
            command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        out.write(done.stdout + done.stderr)
        rc = done.returncode
        assert rc == 0, f"{where}: {command!r} exited {rc}:\n{out.getvalue()}"
    return out.getvalue()


# -- the extractor ----------------------------------------------------------------------------


def test_blocks_pair_code_with_its_output() -> None:
    text = "a\n```python\nx = 1\n```\n\n```text\n1\n```\n```shell\nnsc --help\n```\n"
    got = blocks(text)
    assert [(b.lang, b.line, b.expected) for b in got] == [
        ("python", 2, "1\n"),
        ("shell", 9, None),
    ]


@pytest.mark.parametrize(
    "text",
    ["```bash\nls\n```\n", "```\nls\n```\n", "```text\norphan\n```\n"],
    ids=["other-language", "no-language", "output-first"],
)
def test_blocks_refuse_what_the_test_would_not_run(text: str) -> None:
    with pytest.raises(ValueError, match=r"tutorial\.md:1:"):
        blocks(text)


def test_shell_commands_join_continuations_and_drop_comments() -> None:
    text = "# a comment\nnsc compile a \\\n  -o b\n\npython -c 'print(1)'\n"
    assert shell_commands(text) == ["nsc compile a -o b", "python -c 'print(1)'"]


def test_normalized_reads_numbers_as_numbers() -> None:
    assert normalized("kept 62.5% of 64,\n  error 0.600 [1 2]") == normalized(
        "kept 40% of 7,  error 1e-3 [0 -2]"
    )
    assert normalized("EXACT: agreement 1.0") != normalized("MISMATCH: agreement 1.0")


# -- the tutorial -----------------------------------------------------------------------------


def test_tutorial_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import torch

    found = blocks(TUTORIAL.read_text())
    assert [b.lang for b in found].count("shell") >= 2 and len(found) >= 6
    nsc_part = next(b for b in found if b.lang == "python" and "nsc.compile(" in b.text)
    lines = [line for line in nsc_part.text.splitlines() if line.strip()]
    assert len(lines) <= NSC_LINES_MAX, f"the nsc part has {len(lines)} lines"

    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # fast on a shared machine, and the same float sums every run
    namespace: dict[str, Any] = {"__name__": "__tutorial__"}
    digits = os.environ.get("NSC_TUTORIAL_EXACT") == "1"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for block in found:
                printed = run_block(block, namespace, tmp_path)
                if block.expected is not None:
                    assert normalized(printed, digits) == normalized(block.expected, digits), (
                        f"tutorial.md:{block.line} printed:\n{printed}\nthe text shows:\n"
                        f"{block.expected}"
                    )
    finally:
        torch.set_num_threads(threads)

    # what the prose says about the results
    from nsc import FidelityWarning

    assert any(issubclass(w.category, FidelityWarning) for w in caught)  # "also raised"
    compiled, x_test = namespace["compiled"], namespace["x_test"]
    y_test, y_spiking, y_float = (namespace[k] for k in ("y_test", "y_spiking", "y_float"))
    float_acc = (y_float.argmax(1) == y_test).mean()
    spiking_acc = (y_spiking.argmax(1) == y_test).mean()
    assert 1 / 3 < spiking_acc < float_acc  # "well above chance (33%) but below the float model"
    fidelity = compiled.fidelity
    assert fidelity.agreement is not None and fidelity.agreement < 1.0
    assert any("nsc.constrain" in w for w in fidelity.warnings)
    assert y_spiking.shape == (len(y_test), 3) and y_spiking.dtype == np.int64
    ragged = compiled.run([x_test[0, :5], x_test[1]], last=True)  # "each at its own last step"
    assert (ragged[0] == compiled.run(x_test[:1, :5], last=True)[0]).all()
    assert (ragged[1] == y_spiking[1]).all()
    saved = np.load(tmp_path / "y.npz")
    assert {"y", "scale", "lengths", "@ticks", "@synaptic_events"} <= set(saved.files)
    assert saved["y"].shape == (len(y_test), 3)
    assert int(saved["@ticks"]) == len(y_test) * 8 * 15  # "8 steps x 15 ticks"
    scaled = saved["y"] * saved["scale"]  # "y * scale approximates the float logits"
    assert np.corrcoef(scaled.ravel(), y_float.ravel())[0, 1] > 0.5
    assert (tmp_path / "again.corelet").read_bytes() == (tmp_path / "model.corelet").read_bytes()
    q = namespace["nsc"].parse_ir((tmp_path / "q.nsir").read_text())  # the nodes the text names
    assert {n.name: n.op for n in q if n.name in ("rnn", "rnn_in", "rnn_rec", "out")} == {
        "rnn": "neurons",
        "rnn_in": "synapses",
        "rnn_rec": "synapses",
        "out": "qlinear",
    }
    assert all(q[s].weight.min() >= -8 and q[s].weight.max() <= 7 for s in ("rnn_in", "rnn_rec"))

    # the README's "Using it" snippet, on the tutorial's model and data
    using_it = README.read_text().split("## Using it\n", 1)[1].split("\n## ", 1)[0]
    readme = [b for b in blocks(using_it) if b.lang == "python"]
    assert len(readme) == 1
    exec(compile(readme[0].text, "README.md, Using it", "exec"), namespace)
    assert namespace["report"].exact
    assert (namespace["predictions"] == namespace["y_int"].argmax(axis=1)).all()
