"""Every subcommand, walked through bad arguments and bad output paths (issue 15 item 4).

Each case must end with a non-zero exit, a short message on stderr naming the argument or
path, no traceback, and nothing written: the per-case output folder stays empty and the
traps (a regular file, a folder, a symlink, a device) are unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clitest_util import MODULE, Fixtures

from nsc.cli import main

MODEL = ["{fx}/model.pt", "--model-class", f"{MODULE}:Tiny"]
EXAMPLE = ["--example-input", "{fx}/x.npy"]
COMPILE = ["compile", *MODEL, *EXAMPLE]
RUN = ["run", "{fx}/rand.corelet", "--ticks", "5"]
RUN_MODEL = ["run", "{fx}/net.corelet"]
RANDOM = ["corelet", "random", "--cores", "1"]
PLACE = ["place", "{fx}/neuron.nsir", "--time-limit", "1"]

# (id, argv, text stderr must contain); "{fx}" = the fixtures, "{out}" = an empty folder
CASES: list[tuple[str, list[str], str]] = [
    # compile
    ("compile-missing-model", ["compile", "{fx}/none.pt", "-o", "{out}/m.corelet"], "no such file"),
    ("compile-evil-pickle", ["compile", "{fx}/evil.pt", "-o", "{out}/m.corelet"], "pickled"),
    ("compile-npy-model", ["compile", "{fx}/x.npy", "-o", "{out}/m.corelet"], ".npy"),
    ("compile-no-example", ["compile", *MODEL, "-o", "{out}/m.corelet"], "--example-input"),
    (
        "compile-float-ir-no-example",
        ["compile", "{fx}/network.nsir", "-o", "{out}/m.corelet"],
        "--example-input",
    ),
    (
        "compile-example-npz",
        ["compile", *MODEL, "--example-input", "{fx}/x.npz", "-o", "{out}/m.corelet"],
        "--example-input",
    ),
    (
        "compile-example-nan",
        ["compile", *MODEL, "--example-input", "{fx}/nan.npy", "-o", "{out}/m.corelet"],
        "NaN",
    ),
    (
        "compile-example-empty",
        ["compile", *MODEL, "--example-input", "{fx}/empty.npy", "-o", "{out}/m.corelet"],
        "--example-input: empty",
    ),
    (
        "compile-example-features",
        ["compile", *MODEL, "--example-input", "{fx}/wrong.npy", "-o", "{out}/m.corelet"],
        "takes 3 features",
    ),
    ("compile-levels-0", [*COMPILE, "--levels", "0", "-o", "{out}/m.corelet"], "--levels"),
    ("compile-levels-99", [*COMPILE, "--levels", "99", "-o", "{out}/m.corelet"], "--levels"),
    ("compile-fanin-1", [*COMPILE, "--max-fanin", "1", "-o", "{out}/m.corelet"], "--max-fanin"),
    ("compile-time-nan", [*COMPILE, "--time-limit", "nan", "-o", "{out}/m"], "--time-limit"),
    ("compile-time-neg", [*COMPILE, "--time-limit", "-1", "-o", "{out}/m"], "--time-limit"),
    ("compile-chips-0", [*COMPILE, "--chips", "0x1", "-o", "{out}/m.corelet"], "--chips"),
    ("compile-chips-huge", [*COMPILE, "--chips", "65537x1", "-o", "{out}/m"], "--chips"),
    ("compile-chips-text", [*COMPILE, "--chips", "big", "-o", "{out}/m.corelet"], "--chips"),
    ("compile-o-dir", [*COMPILE, "-o", "{fx}/adir"], "is a folder"),
    ("compile-o-under-file", [*COMPILE, "-o", "{fx}/afile/m.corelet"], "under the file"),
    ("compile-o-missing-dir", [*COMPILE, "-o", "{out}/no/m.corelet"], "does not exist"),
    ("compile-o-symlink", [*COMPILE, "-o", "{fx}/link"], "symbolic link"),
    ("compile-o-device", [*COMPILE, "-o", "/dev/full"], "is a device"),
    (
        "compile-ir-out-dir",
        [*COMPILE, "-o", "{out}/m.corelet", "--emit-ir", "input", "--ir-out", "{fx}/adir"],
        "is a folder",
    ),
    (
        "compile-bad-stage",
        [*COMPILE, "-o", "{out}/m.corelet", "--emit-ir", "nope", "--ir-out", "{out}/m.nsir"],
        "no stage 'nope'",
    ),
    (
        "compile-same-output",
        [*COMPILE, "-o", "{out}/m", "--emit-ir", "input", "--ir-out", "{out}/./m"],
        "two different outputs",
    ),
    ("compile-ir-out-alone", [*COMPILE, "-o", "{out}/m", "--ir-out", "{out}/i"], "--emit-ir"),
    (
        "compile-args-no-class",
        ["compile", "{fx}/model.pt", "--model-args", "{}", *EXAMPLE, "-o", "{out}/m"],
        "--model-args needs --model-class",
    ),
    (
        "compile-bad-class",
        ["compile", "{fx}/model.pt", "--model-class", "nope_mod:X", *EXAMPLE, "-o", "{out}/m"],
        "--model-class nope_mod:X",
    ),
    (
        "compile-bad-args-json",
        [*COMPILE, "--model-args", "{hidden:", "-o", "{out}/m.corelet"],
        "--model-args",
    ),
    (
        "compile-args-mismatch",
        [*COMPILE, "--model-args", '{"hidden": 9}', "-o", "{out}/m.corelet"],
        "do not fit Tiny",
    ),
    (
        "compile-class-for-ir",
        ["compile", "{fx}/neuron.nsir", "--model-class", f"{MODULE}:Tiny", "-o", "{out}/m"],
        "--model-class applies to torch files",
    ),
    ("compile-state-dict-no-class", ["compile", "{fx}/model.pt", "-o", "{out}/m"], "state_dict"),
    # verify
    ("verify-samples-0", ["verify", "{fx}/net.corelet", "--samples", "0"], "--samples"),
    ("verify-steps-neg", ["verify", "{fx}/net.corelet", "--steps", "-3"], "--steps"),
    ("verify-steps-huge", ["verify", "{fx}/net.corelet", "--steps", "1000000"], "--steps"),
    ("verify-seed-neg", ["verify", "{fx}/net.corelet", "--seed", "-1"], "--seed"),
    (
        "verify-too-many",
        ["verify", "{fx}/net.corelet", "--samples", "100000", "--steps", "10000"],
        "--samples 100000 x --steps 10000",
    ),
    ("verify-input-npz-floats", ["verify", "{fx}/net.corelet", "--input", "{fx}/x.npz"], "integer"),
    ("verify-input-nan", ["verify", "{fx}/net.corelet", "--input", "{fx}/nan.npy"], "NaN"),
    ("verify-input-float", ["verify", "{fx}/net.corelet", "--input", "{fx}/x.npy"], "integer"),
    ("verify-input-shape", ["verify", "{fx}/net.corelet", "--input", "{fx}/wrong.npy"], "features"),
    ("verify-json-dir", ["verify", "{fx}/net.corelet", "--json", "{fx}/adir"], "is a folder"),
    (
        "verify-json-missing",
        ["verify", "{fx}/net.corelet", "--json", "{out}/a/r.json"],
        "not exist",
    ),
    ("verify-garbage", ["verify", "{fx}/garbage.corelet"], "garbage.corelet"),
    ("verify-model-no-example", ["verify", *MODEL], "--example-input"),
    ("verify-evil", ["verify", "{fx}/evil.pt"], "pickled"),
    # run
    ("run-ticks-neg", [*RUN[:2], "--ticks", "-1", "-o", "{out}/r.npz"], "--ticks"),
    ("run-ticks-huge", [*RUN[:2], "--ticks", "1000000000000", "-o", "{out}/r.npz"], "--ticks"),
    ("run-ticks-memory", [*RUN[:2], "--ticks", "2147483647", "-o", "{out}/r.npz"], "--ticks"),
    ("run-threads-0", [*RUN, "--threads", "0", "-o", "{out}/r.npz"], "--threads"),
    ("run-input-npy", [*RUN, "--input", "{fx}/spikes.npy", "-o", "{out}/r.npz"], ".npy"),
    ("run-input-dir", [*RUN, "--input", "{fx}/adir", "-o", "{out}/r.npz"], "folder"),
    ("run-missing-corelet", ["run", "{fx}/none.corelet", "--ticks", "1", "-o", "{out}/r"], "none"),
    ("run-o-dir", [*RUN, "-o", "{fx}/adir"], "is a folder"),
    ("run-o-under-file", [*RUN, "-o", "{fx}/afile/r.npz"], "under the file"),
    ("run-o-missing-dir", [*RUN, "-o", "{out}/no/r.npz"], "does not exist"),
    ("run-o-symlink", [*RUN, "-o", "{fx}/link"], "symbolic link"),
    ("run-o-device", [*RUN, "-o", "/dev/full"], "is a device"),
    (
        "run-ckpt-every-0",
        [*RUN, "--checkpoint", "{out}/s", "--checkpoint-every", "0", "-o", "{out}/r.npz"],
        "--checkpoint-every",
    ),
    (
        "run-ckpt-every-x",
        [*RUN, "--checkpoint", "{out}/s", "--checkpoint-every", "x", "-o", "{out}/r.npz"],
        "--checkpoint-every",
    ),
    (
        "run-ckpt-every-alone",
        [*RUN, "--checkpoint-every", "5", "-o", "{out}/r.npz"],
        "--checkpoint-every needs --checkpoint",
    ),
    (
        "run-ckpt-is-output",
        [*RUN, "--checkpoint", "{out}/r.npz", "-o", "{out}/r.npz"],
        "--checkpoint",
    ),
    ("run-ckpt-dir", [*RUN, "--checkpoint", "{fx}/adir", "-o", "{out}/r.npz"], "is a folder"),
    ("run-ckpt-device", [*RUN, "--checkpoint", "/dev/full", "-o", "{out}/r.npz"], "is a device"),
    ("run-resume-missing", [*RUN, "--resume", "{fx}/none.npz", "-o", "{out}/r.npz"], "none.npz"),
    ("run-resume-garbage", [*RUN, "--resume", "{fx}/afile", "-o", "{out}/r.npz"], "checkpoint"),
    (
        "run-model-ckpt",
        [*RUN_MODEL, "--input", "{fx}/x.npz", "--checkpoint", "{out}/s", "-o", "{out}/y"],
        "--raw",
    ),
    # run, model mode (a corelet from nsc compile: --input holds the model's inputs x)
    ("run-model-no-input", [*RUN_MODEL, "-o", "{out}/y.npz"], "give --input"),
    (
        "run-model-ticks",
        [*RUN_MODEL, "--input", "{fx}/int.npy", "--ticks", "5", "-o", "{out}/y"],
        "--raw",
    ),
    (
        "run-model-features",
        [*RUN_MODEL, "--input", "{fx}/wrong.npy", "-o", "{out}/y"],
        "takes 3 features",
    ),
    ("run-model-nan", [*RUN_MODEL, "--input", "{fx}/nan.npy", "-o", "{out}/y"], "NaN"),
    ("run-model-empty", [*RUN_MODEL, "--input", "{fx}/empty.npy", "-o", "{out}/y"], "empty"),
    ("run-model-fractions", [*RUN_MODEL, "--input", "{fx}/x.npz", "-o", "{out}/y"], "integer"),
    ("run-model-port-npz", [*RUN_MODEL, "--input", "{fx}/spikes.npz", "-o", "{out}/y"], "--raw"),
    ("run-model-dir", [*RUN_MODEL, "--input", "{fx}/adir", "-o", "{out}/y.npz"], "folder"),
    ("run-model-missing", [*RUN_MODEL, "--input", "{fx}/none.npz", "-o", "{out}/y"], "none.npz"),
    ("run-raw-x-npz", [*RUN_MODEL, "--raw", "--input", "{fx}/x.npz", "-o", "{out}/y"], "port"),
    # corelet random / info
    ("random-cores-0", ["corelet", "random", "--cores", "0", "-o", "{out}/c"], "--cores"),
    (
        "random-cores-memory",
        ["corelet", "random", "--cores", "10000000000", "-o", "{out}/c"],
        "--cores",
    ),
    ("random-seed-neg", [*RANDOM, "--seed", "-1", "-o", "{out}/c"], "--seed"),
    ("random-inputs-huge", [*RANDOM, "--inputs", "10000000", "-o", "{out}/c"], "--inputs"),
    ("random-outputs-neg", [*RANDOM, "--outputs", "-1", "-o", "{out}/c"], "--outputs"),
    ("random-rate-nan", [*RANDOM, "--rate", "nan", "-o", "{out}/c"], "--rate"),
    ("random-rate-neg", [*RANDOM, "--rate", "-1", "-o", "{out}/c"], "--rate"),
    ("random-synapses", [*RANDOM, "--synapses", "300", "-o", "{out}/c"], "--synapses"),
    ("random-chips-0", [*RANDOM, "--chips", "0x2", "-o", "{out}/c"], "--chips"),
    ("random-chips-text", [*RANDOM, "--chips", "two", "-o", "{out}/c"], "--chips"),
    ("random-chips-huge", [*RANDOM, "--chips", "2000x1", "-o", "{out}/c"], "--chips"),
    (
        "random-chips-small",
        ["corelet", "random", "--cores", "4097", "--chips", "1x1", "-o", "{out}/c"],
        "do not fit --chips 1x1",
    ),
    ("random-chips-memory", ["corelet", "random", "--chips", "64x64", "-o", "{out}/c"], "--cores"),
    ("random-no-cores", ["corelet", "random", "-o", "{out}/c"], "--cores"),
    ("random-o-dir", [*RANDOM, "-o", "{fx}/adir"], "is a folder"),
    ("random-o-under-file", [*RANDOM, "-o", "{fx}/afile/c"], "under the file"),
    ("random-o-missing-dir", [*RANDOM, "-o", "{out}/no/c"], "does not exist"),
    ("random-o-symlink", [*RANDOM, "-o", "{fx}/link"], "symbolic link"),
    ("random-o-device", [*RANDOM, "-o", "/dev/full"], "is a device"),
    ("info-missing", ["corelet", "info", "{fx}/none.corelet"], "none.corelet"),
    ("info-dir", ["corelet", "info", "{fx}/adir"], "adir"),
    ("info-garbage", ["corelet", "info", "{fx}/garbage.corelet"], "garbage.corelet"),
    # ir fmt / check
    ("ir-fmt-missing", ["ir", "fmt", "{fx}/none.nsir"], "none.nsir"),
    ("ir-fmt-o-dir", ["ir", "fmt", "{fx}/neuron.nsir", "-o", "{fx}/adir"], "is a folder"),
    ("ir-fmt-o-under-file", ["ir", "fmt", "{fx}/neuron.nsir", "-o", "{fx}/afile/x"], "under the"),
    ("ir-fmt-o-symlink", ["ir", "fmt", "{fx}/neuron.nsir", "-o", "{fx}/link"], "symbolic link"),
    ("ir-fmt-o-device", ["ir", "fmt", "{fx}/neuron.nsir", "-o", "/dev/full"], "is a device"),
    ("ir-check-missing", ["ir", "check", "{fx}/none.nsir"], "none.nsir"),
    ("ir-check-not-ir", ["ir", "check", "{fx}/afile"], "afile"),
    # opt
    ("opt-missing", ["opt", "{fx}/none.nsir", "-p", "insert-delays"], "none.nsir"),
    ("opt-unknown-pass", ["opt", "{fx}/neuron.nsir", "-p", "nope"], "unknown pass 'nope'"),
    ("opt-bad-option", ["opt", "{fx}/neuron.nsir", "-p", "split-fanin{max=x}"], "option max"),
    ("opt-level", ["opt", "{fx}/network.nsir", "-p", "lower-to-cores"], "run quantize"),
    ("opt-time-nan", ["opt", "{fx}/neuron.nsir", "--time-limit", "nan"], "--time-limit"),
    ("opt-chips-0", ["opt", "{fx}/neuron.nsir", "--chips", "0x1"], "--chips"),
    ("opt-o-dir", ["opt", "{fx}/neuron.nsir", "-p", "place", "-o", "{fx}/adir"], "is a folder"),
    ("opt-o-device", ["opt", "{fx}/neuron.nsir", "-p", "place", "-o", "/dev/full"], "device"),
    (
        "opt-example-npz",
        ["opt", "{fx}/network.nsir", "-p", "quantize", "--example-input", "{fx}/x.npz"],
        "--example-input",
    ),
    # export
    ("export-missing", ["export", "{fx}/none.nsir", "--nir", "{out}/n.nir"], "none.nsir"),
    ("export-dt-nan", ["export", "{fx}/neuron.nsir", "--nir", "{out}/n", "--dt", "nan"], "--dt"),
    ("export-o-dir", ["export", "{fx}/neuron.nsir", "--nir", "{fx}/adir"], "is a folder"),
    ("export-o-device", ["export", "{fx}/neuron.nsir", "--nir", "/dev/full"], "is a device"),
    ("export-evil", ["export", "{fx}/evil.pt", "--nir", "{out}/n.nir"], "pickled"),
    ("export-corelet", ["export", "{fx}/net.corelet", "--nir", "{out}/n.nir"], "not a model"),
    # constrain ({fx}/x.npz holds x but no X, y)
    (
        "constrain-missing",
        ["constrain", "{fx}/none.pt", "{fx}/x.npz", "-o", "{out}/c.nsir"],
        "none.pt",
    ),
    (
        "constrain-evil",
        ["constrain", "{fx}/evil.pt", "{fx}/x.npz", "-o", "{out}/c.nsir"],
        "pickled",
    ),
    ("constrain-data-keys", ["constrain", *MODEL, "{fx}/x.npz", "-o", "{out}/c.nsir"], "lacks"),
    (
        "constrain-epochs",
        ["constrain", *MODEL, "{fx}/x.npz", "-o", "{out}/c.nsir", "--epochs", "-3"],
        "--epochs",
    ),
    (
        "constrain-levels",
        ["constrain", *MODEL, "{fx}/x.npz", "-o", "{out}/c.nsir", "--levels", "0"],
        "--levels",
    ),
    (
        "constrain-lr-nan",
        ["constrain", *MODEL, "{fx}/x.npz", "-o", "{out}/c.nsir", "--lr", "nan"],
        "--lr",
    ),
    ("constrain-o-suffix", ["constrain", *MODEL, "{fx}/x.npz", "-o", "{out}/c.txt"], "must end in"),
    (
        "constrain-o-missing-dir",
        ["constrain", *MODEL, "{fx}/x.npz", "-o", "{out}/no/c.nsir"],
        "does not exist",
    ),
    ("constrain-o-device", ["constrain", *MODEL, "{fx}/x.npz", "-o", "/dev/full"], "must end in"),
    # place
    ("place-network-level", ["place", "{fx}/network.nsir", "-o", "{out}/p"], "neuron-level"),
    ("place-time-0", [*PLACE[:2], "--time-limit", "0", "-o", "{out}/p"], "--time-limit"),
    ("place-time-nan", [*PLACE[:2], "--time-limit", "nan", "-o", "{out}/p"], "--time-limit"),
    ("place-seed-neg", [*PLACE, "--seed", "-1", "-o", "{out}/p"], "--seed"),
    ("place-chips", [*PLACE, "--chips", "0x0", "-o", "{out}/p"], "--chips"),
    ("place-o-dir", [*PLACE, "-o", "{fx}/adir"], "is a folder"),
    ("place-o-missing-dir", [*PLACE, "-o", "{out}/no/p.nsir"], "does not exist"),
    ("place-report-under-file", [*PLACE, "-o", "{out}/p", "--report", "{fx}/afile/r"], "under"),
    ("place-png-dir", [*PLACE, "-o", "{out}/p", "--png", "{fx}/adir"], "is a folder"),
    ("place-png-symlink", [*PLACE, "-o", "{out}/p", "--png", "{fx}/link"], "symbolic link"),
    ("place-same-output", [*PLACE, "-o", "{out}/p", "--report", "{out}/p"], "two different"),
    # demo (checks before any training)
    ("demo-threads-0", ["demo", "trec", "--threads", "0", "--out", "{out}/d"], "--threads"),
    ("demo-epochs-neg", ["demo", "trec", "--epochs", "-1", "--out", "{out}/d"], "--epochs"),
    ("demo-no-checkpoint", ["demo", "trec", "--checkpoint", "{fx}/none.pt"], "none.pt"),
    ("demo-bad-config", ["demo", "trec", "--config", "huge"], "--config"),
]


def _snapshot(fx: Fixtures) -> dict[str, object]:
    """What the traps look like: a regular file, a folder, a symlink and its target."""
    return {
        "afile": (fx / "afile").read_text(),
        "adir": sorted(os.listdir(fx / "adir")),
        "link": os.readlink(fx / "link"),
        "victim": (fx / "victim").read_text(),
        "temps": sorted(p.name for p in fx.root.iterdir() if p.name.endswith(".tmp")),
    }


@pytest.mark.parametrize(("argv", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_fail_cleanly(
    fx: Fixtures,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    needle: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the memory limit is half the machine's memory: pin it, so huge runs fail everywhere
    monkeypatch.setattr("nsc.cli.run_cmd.memory_budget", lambda: 1 << 30)
    device = "/dev/full" if Path("/dev/full").exists() else os.devnull  # any device node
    argv = [device if a == "/dev/full" else a for a in argv]
    out = tmp_path / "out"
    out.mkdir()
    before = _snapshot(fx)
    args = [a.replace("{fx}", str(fx.root)).replace("{out}", str(out)) for a in argv]
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse: malformed or out-of-range argument
        rc = exc.code
    captured = capsys.readouterr()
    err = captured.err
    assert rc not in (0, None), f"exit {rc} for {args}"
    assert "Traceback" not in err + captured.out
    assert needle in err
    lines = [line for line in err.strip().splitlines() if not line.startswith("nsc: warning:")]
    if rc == 1:
        # one line; an IR parse error adds the source line and a caret under it
        assert lines[0].startswith("nsc: error:") and (len(lines) == 1 or lines[-1].strip() == "^")
    else:  # argparse: the usage, then one line naming the argument
        assert rc == 2 and lines[-1].split(": error: ", 1)[1].startswith("argument"), err
    assert list(out.iterdir()) == [], "a failed command left output behind"
    assert _snapshot(fx) == before
    assert not fx.marker.exists()


def test_table_covers_every_subcommand() -> None:
    from nsc.cli import COMMANDS

    covered = {c[1][0] for c in CASES} | {f"{c[1][0]} {c[1][1]}" for c in CASES}
    assert set(COMMANDS) <= covered
    assert {"corelet random", "corelet info", "ir fmt", "ir check"} <= covered
