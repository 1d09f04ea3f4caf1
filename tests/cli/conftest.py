"""Small files every CLI test uses, built once per session: a tiny torch model in several
formats, example inputs (good and bad), a compiled corelet, IR files and output traps."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pytest
from clitest_util import MODULE, TINYNET, Evil, Fixtures

from nsc.cli import main


@pytest.fixture(scope="session")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixtures]:
    import torch

    root = tmp_path_factory.mktemp("cli_fixtures")
    (root / f"{MODULE}.py").write_text(TINYNET)
    sys.path.insert(0, str(root))
    from nsc_cli_tinynet import Tiny  # type: ignore[import-not-found]

    torch.manual_seed(0)
    model = Tiny().eval()
    torch.save(model.state_dict(), root / "model.pt")
    torch.save(model, root / "full.pt")
    marker = root / "PWNED"
    torch.save({"weights": Evil(marker)}, root / "evil.pt")
    rng = np.random.default_rng(0)
    x = rng.random((16, 5, 3))
    np.save(root / "x.npy", x)
    np.savez(root / "x.npz", x=x)
    np.save(root / "nan.npy", np.full((4, 5, 3), np.nan))
    np.save(root / "empty.npy", np.zeros((0, 5, 3)))
    np.save(root / "wrong.npy", rng.random((4, 5, 7)))
    np.save(root / "int.npy", rng.integers(0, 16, (3, 4, 3)))
    argv = ["compile", str(root / "model.pt"), "--model-class", f"{MODULE}:Tiny"]
    argv += ["--example-input", str(root / "x.npy"), "-o", str(root / "net.corelet")]
    assert main([*argv, "--emit-ir", "encode-weights", "--ir-out", str(root / "neuron.nsir")]) == 0
    argv[-1] = str(root / "again.corelet")
    assert main([*argv, "--emit-ir", "input", "--ir-out", str(root / "network.nsir")]) == 0
    assert main(["corelet", "random", "--cores", "1", "-o", str(root / "rand.corelet")]) == 0
    spikes = (rng.random((20, 16)) < 0.3).astype(np.uint8)
    np.savez(root / "spikes.npz", **{"in": spikes})
    np.save(root / "spikes.npy", spikes)
    (root / "garbage.corelet").write_bytes(b"\x00garbage" * 10)
    (root / "afile").write_text("a regular file\n")
    (root / "adir").mkdir()
    (root / "victim").write_text("the link's target\n")
    (root / "link").symlink_to(root / "victim")
    yield Fixtures(root, marker)
    sys.path.remove(str(root))
