"""Model files -> objects the compiler accepts, without running code from the file by default.

:func:`load_model` reads, by content (the suffix only picks between IR text, numpy and torch):

- ``*.nsir``: IR text at any stage -> :class:`nsc.ir.Graph`;
- ``*.npz``: integer parameters (:func:`nsc.demos.trec.export_integer_params`) -> ``dict``, read
  with ``allow_pickle=False``;
- a ``torch.export.save`` archive (``.pt2``) -> the exported program's module (a
  ``torch.fx.GraphModule``), or, with ``model_class``, that class rebuilt with the program's
  weights. Before torch reads it, the archive is checked: torch's loader would unpickle
  pickled weights, constants and sample inputs (falling back to full pickle) and ``eval`` the
  symbolic-shape expressions it stores, so an archive holding pickled objects, an AOTInductor
  package, an expression outside plain integer arithmetic, or an operator outside
  ``torch.ops.aten`` / ``operator`` / ``math`` is refused unless ``allow_pickle``;
- a TorchScript archive (``torch.jit.save``): read by TorchScript's own loader (no Python
  pickle); nsc cannot trace TorchScript code, so ``model_class`` is required to rebuild the
  module from the archive's weights;
- any other ``torch.save`` file, with ``torch.load(weights_only=True)``: a ``state_dict``
  (rebuilt with ``model_class``), nsc's integer-parameter dict, or a checkpoint dict holding a
  ``state_dict`` / ``model_state_dict`` entry. A pickled ``nn.Module`` (``torch.save(model)``)
  runs code from the file when read and is loaded only with ``allow_pickle=True``.

``model_class`` is ``"package.module:Class"`` (imported with the current folder first on the
module search path, as ``python -m`` does) or a class; ``model_args`` are its constructor
arguments (a dict for keywords, a list for positions, or their JSON text).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FrontendError

__all__ = ["SAFE_FORMATS", "load_model"]

SAFE_FORMATS = (
    "save the weights (torch.save(model.state_dict(), 'm.pt')) and pass "
    "--model-class package.module:Class [--model-args JSON]; or export the model "
    "(torch.export.save(torch.export.export(model, (x,)), 'm.pt2')); or use TorchScript "
    "(torch.jit.save) with --model-class"
)
PICKLE_RISK = (
    "Only for a file you made yourself or fully trust: --allow-pickle lets torch run the code "
    "the file contains (Python pickle; for .pt2, also the expressions torch evaluates)"
)
MAX_NPZ_BYTES = 1 << 30  # integer parameters are kilobytes; this bounds a compressed .npz
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")
# symbolic-shape expressions torch.export stores (and evaluates with sympy) may hold only
# integers, symbol names, arithmetic and the sympy functions torch itself writes
_EXPR_CHARS = re.compile(r"[A-Za-z0-9_+\-*/%(), ]*")
_EXPR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYMBOL = re.compile(r"[a-z]+[0-9]+")
_EXPR_FUNCTIONS = frozenset(
    (
        "FloorDiv",
        "ModularIndexing",
        "Where",
        "PythonMod",
        "Mod",
        "CleanDiv",
        "CeilToInt",
        "FloorToInt",
        "CeilDiv",
        "LShift",
        "RShift",
        "PowByNatural",
        "FloatPow",
        "FloatTrueDiv",
        "IntTrueDiv",
        "TruncToFloat",
        "TruncToInt",
        "RoundToInt",
        "RoundDecimal",
        "Identity",
        "Max",
        "Min",
        "Abs",
        "Eq",
        "Ne",
        "Lt",
        "Le",
        "Gt",
        "Ge",
        "And",
        "Or",
        "Not",
        "True",
        "False",
        "Integer",
        "Rational",
        "oo",
    )
)
_TARGET_PREFIXES = ("torch.ops.aten.", "torch.ops.higher_order.", "_operator.", "math.")
_TARGET_PART = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*")


def load_model(
    path: str | os.PathLike[str],
    *,
    model_class: str | type | None = None,
    model_args: Any = None,
    allow_pickle: bool = False,
) -> Any:
    """The model in ``path`` (see the module docstring for the formats and what is trusted)."""
    file = Path(path)
    if not file.is_file():
        what = "is not a file" if file.exists() else "no such file"
        raise FrontendError(f"{path}: {what}")
    suffix = file.suffix.lower()
    if model_class is not None and suffix in (".nsir", ".npz", ".npy", ".nir"):
        raise FrontendError(f"{path}: --model-class applies to torch files, not {suffix}")
    if suffix == ".nsir":
        from ..text import parse_ir_file

        return parse_ir_file(str(path))
    if suffix == ".npz":
        return _load_npz(file)
    if suffix == ".nir":
        from ..nir import from_nir

        return from_nir(str(path))
    if suffix == ".corelet":
        raise FrontendError(
            f"{path}: a corelet holds compiled cores, not a model; give the model it was "
            "compiled from, or the IR of a stage (nsc compile ... --emit-ir STAGE --ir-out F.nsir)"
        )
    if suffix == ".npy":
        raise FrontendError(
            f"{path}: a .npy array is not a model; give integer parameters as .npz "
            "(numpy.savez(path, **nsc.demos.trec.export_integer_params(model))), an .nsir file or "
            "a torch file"
        )
    try:
        data = file.read_bytes()
    except OSError as err:
        raise FrontendError(f"{path}: cannot read ({err.strerror})") from None
    kind = _torch_kind(data)
    if kind == "pt2":
        return _load_pt2(path, data, model_class, model_args, allow_pickle)
    if kind == "torchscript":
        return _load_torchscript(path, data, model_class, model_args)
    if suffix not in (".pt", ".pth", ".pt2", ".ckpt", ".bin"):
        raise FrontendError(
            f"{path}: unknown model type {suffix!r} (expected .nsir, .npz, a torch.export .pt2 "
            "archive, a TorchScript archive or a torch.save file such as .pt)"
        )
    return _load_torch_save(path, data, model_class, model_args, allow_pickle)


# --------------------------------------------------------------------------------------------
# numpy


def _load_npz(file: Path) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(file) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise FrontendError(f"{file}: not a readable .npz file ({err})") from None
    if unpacked > MAX_NPZ_BYTES:
        raise FrontendError(
            f"{file}: its arrays unpack to {unpacked:,} bytes, more than integer parameters "
            f"need (limit {MAX_NPZ_BYTES:,})"
        )
    try:
        with np.load(file, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise FrontendError(f"{file}: holds one array (a .npy file), not an .npz archive")
            return {k: data[k] for k in data.files}
    except FrontendError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise FrontendError(f"{file}: not a readable .npz file ({err})") from None


# --------------------------------------------------------------------------------------------
# torch: which kind of file


def _torch_kind(data: bytes) -> str:
    """``pt2``, ``torchscript``, or ``save`` (torch.save, zip or legacy pickle)."""
    if not data.startswith(b"PK"):
        return "save"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return "save"
    if any(n == "archive_format" or n.endswith("/archive_format") for n in names):
        return "pt2"
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    return "save"


# --------------------------------------------------------------------------------------------
# torch.save files


def _load_torch_save(
    path: Any, data: bytes, model_class: Any, model_args: Any, allow_pickle: bool
) -> Any:
    import torch

    try:
        obj = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises many types for a bad or pickled file
        if not _is_unsafe_pickle_error(err):
            raise FrontendError(f"{path}: not a readable torch file ({_first_line(err)})") from None
        if not allow_pickle:
            raise FrontendError(
                f"{path} is a pickled Python object (such as torch.save(model)): reading it "
                f"would run code from the file, so nsc does not. Safe instead: {SAFE_FORMATS}. "
                f"{PICKLE_RISK}"
            ) from None
        obj = _unsafe_pickle_load(path, data)
    if isinstance(obj, torch.nn.Module):
        module = obj
        if model_class is not None:
            module = _rebuild(path, model_class, model_args, dict(obj.state_dict()))
        return module.eval()
    if not isinstance(obj, Mapping):
        raise FrontendError(
            f"{path}: holds a {type(obj).__name__}, not a model or a state_dict; {SAFE_FORMATS}"
        )
    if model_class is not None:
        return _rebuild(path, model_class, model_args, _state_dict_of(path, obj))
    from .params import REQUIRED

    if all(k in obj for k in REQUIRED):
        return dict(obj)
    raise FrontendError(
        f"{path} holds a state_dict ({_describe_keys(obj)}): weights without the model's "
        "code. Give --model-class package.module:Class (and --model-args JSON if its "
        "constructor takes arguments) to rebuild it, or save it with torch.export.save (.pt2)"
    )


def _is_unsafe_pickle_error(err: Exception) -> bool:
    text = str(err)
    return "weights_only" in text or "Weights only load failed" in text


def _unsafe_pickle_load(path: Any, data: bytes) -> Any:
    import torch

    warnings.warn(
        f"{path}: loading with full pickle (--allow-pickle): any code in the file has run",
        stacklevel=3,
    )
    try:
        return torch.load(io.BytesIO(data), weights_only=False, map_location="cpu")
    except (AttributeError, ModuleNotFoundError, ImportError) as err:
        raise FrontendError(
            f"{path}: the pickled model's class cannot be found ({_first_line(err)}); its "
            "module must be importable. Instead: " + SAFE_FORMATS
        ) from None
    except Exception as err:
        raise FrontendError(f"{path}: not a readable torch file ({_first_line(err)})") from None


def _state_dict_of(path: Any, obj: Mapping) -> dict[str, Any]:
    """The tensors to load: ``obj`` itself, or its ``state_dict``-like entry."""
    import torch

    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    for key in STATE_DICT_KEYS:
        inner = obj.get(key)
        if not isinstance(inner, Mapping) or not inner:
            continue
        if all(isinstance(v, torch.Tensor) for v in inner.values()):
            return dict(inner)
    raise FrontendError(
        f"{path}: no state_dict found ({_describe_keys(obj)}); expected a dict of tensors, "
        f"or a dict with one of {', '.join(STATE_DICT_KEYS)} holding one"
    )


def _describe_keys(obj: Mapping) -> str:
    keys = [str(k) for k in list(obj)[:4]]
    more = ", ..." if len(obj) > 4 else ""
    return f"keys {', '.join(keys)}{more}" if keys else "empty"


# --------------------------------------------------------------------------------------------
# building a module from a class name and a state_dict


def _resolve_class(spec: str | type) -> type:
    import torch

    if isinstance(spec, type):
        cls = spec
    else:
        module_name, sep, qualname = spec.partition(":")
        if not sep or not module_name or not qualname:
            raise FrontendError(
                f"--model-class takes package.module:Class (for example mymodels:Net), got {spec!r}"
            )
        with _cwd_on_path():
            try:
                module = importlib.import_module(module_name)
            except ImportError as err:
                raise FrontendError(
                    f"--model-class {spec}: cannot import {module_name!r} ({err}); run nsc "
                    "from the folder that holds it or add it to PYTHONPATH"
                ) from None
        obj: Any = module
        for part in qualname.split("."):
            if not hasattr(obj, part):
                raise FrontendError(f"--model-class {spec}: {module_name} has no {qualname!r}")
            obj = getattr(obj, part)
        cls = obj
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise FrontendError(f"--model-class {spec}: not a torch.nn.Module class")
    return cls


@contextlib.contextmanager
def _cwd_on_path() -> Iterator[None]:
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(cwd)


def _parse_args(model_args: Any) -> tuple[list[Any], dict[str, Any]]:
    if model_args is None:
        return [], {}
    if isinstance(model_args, str):
        try:
            model_args = json.loads(model_args)
        except json.JSONDecodeError as err:
            raise FrontendError(f"--model-args is not valid JSON: {err}") from None
    if isinstance(model_args, Mapping):
        return [], dict(model_args)
    if isinstance(model_args, (list, tuple)):
        return list(model_args), {}
    raise FrontendError(
        "--model-args takes a JSON object (keyword arguments) or a list (positional "
        f"arguments), got {type(model_args).__name__}"
    )


def _rebuild(path: Any, spec: str | type, model_args: Any, state: dict[str, Any]) -> Any:
    cls = _resolve_class(spec)
    args, kwargs = _parse_args(model_args)
    try:
        module = cls(*args, **kwargs)
    except Exception as err:  # the user's constructor: any error is a usage error here
        raise FrontendError(
            f"cannot build {cls.__name__}(*{args}, **{kwargs}): {_first_line(err)} "
            "(give its constructor arguments with --model-args JSON)"
        ) from None
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        lines = [t.strip() for t in str(err).splitlines()[1:3]]
        raise FrontendError(
            f"{path}: the weights do not fit {cls.__name__}: {'; '.join(lines)} (check "
            "--model-class and --model-args)"
        ) from None
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            extra = ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else "")
            parts.append(f"unexpected {extra}")
        raise FrontendError(
            f"{path}: the weights do not fit {cls.__name__}: {'; '.join(parts)} (check "
            "--model-class and --model-args)"
        )
    return module.eval()


# --------------------------------------------------------------------------------------------
# torch.export archives


def _load_pt2(path: Any, data: bytes, model_class: Any, model_args: Any, allow_pickle: bool) -> Any:
    import torch

    if not allow_pickle:
        problem = _pt2_problem(data)
        if problem:
            raise FrontendError(
                f"{path}: {problem}; torch's loader would run code for it, so nsc does not "
                f"load it. Export the plain module again (torch.export.save). {PICKLE_RISK}"
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(io.BytesIO(data))
    except Exception as err:  # torch raises many types for a bad archive
        raise FrontendError(
            f"{path}: not a readable torch.export archive ({_first_line(err)})"
        ) from None
    if model_class is not None:
        return _rebuild(path, model_class, model_args, dict(program.state_dict))
    return program.module()


def _pt2_problem(data: bytes) -> str | None:
    """Why reading this .pt2 archive could run code from it, or None."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as err:
        return f"not a zip archive ({err})"
    with zf:
        members = {name.split("/", 1)[-1]: name for name in zf.namelist()}
        if not any(rest.startswith("models/") for rest in members):
            return "it is not a torch.export archive of this torch version (no models/)"
        for rest, name in members.items():
            problem = _member_problem(zf, rest, name)
            if problem:
                return problem
    return None


def _member_problem(zf: zipfile.ZipFile, rest: str, name: str) -> str | None:
    """Why torch's loader could run code for archive member ``rest`` (full name ``name``)."""
    import torch

    folder, _, base = rest.rpartition("/")
    if rest.startswith("data/aotinductor/"):
        return "it is an AOTInductor package (compiled native code)"
    if folder in ("data/weights", "data/constants"):
        if base.endswith(".pt"):
            return f"it holds a legacy pickled file {rest}"
        if base.startswith(("custom_obj", "opaque_obj")):
            return f"it holds a pickled object {rest}"
        if base.endswith("_config.json"):
            return _config_problem(zf.read(name), rest)
    if folder == "data/sample_inputs":
        try:
            torch.load(io.BytesIO(zf.read(name)), weights_only=True)
        except Exception:  # any failure: torch would retry with full pickle
            return f"its sample inputs {rest} are not plain tensors"
    if folder == "models" and base.endswith(".json"):
        return _program_problem(zf.read(name), rest)
    return None


def _config_problem(raw: bytes, name: str) -> str | None:
    try:
        config = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"{name} is not JSON"
    entries = config.get("config", {}) if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        return f"{name} has no config table"
    for fqn, meta in entries.items():
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            return f"its tensor {fqn!r} is stored pickled"
    return None


def _program_problem(raw: bytes, name: str) -> str | None:
    try:
        program = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"{name} is not JSON"
    for key, value in _walk(program):
        if key == "expr_str" and not _safe_expr(value):
            return f"{name} holds the shape expression {str(value)[:60]!r}"
        if key == "target" and not _safe_target(value):
            return f"{name} calls {str(value)[:60]!r}"
    return None


def _walk(obj: Any) -> Iterator[tuple[str, Any]]:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                yield str(k), v
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)


def _safe_expr(text: Any) -> bool:
    if not isinstance(text, str) or not _EXPR_CHARS.fullmatch(text):
        return False
    if "__" in text or "**" in text:  # dunders reach Python internals; ** builds huge numbers
        return False
    return all(
        _SYMBOL.fullmatch(name) or name in _EXPR_FUNCTIONS for name in _EXPR_NAME.findall(text)
    )


def _safe_target(text: Any) -> bool:
    if not isinstance(text, str):
        return True  # nested dicts are walked separately
    prefix = next((p for p in _TARGET_PREFIXES if text.startswith(p)), None)
    if prefix is None:
        return False
    parts = text[len(prefix) :].split(".")
    return all(_TARGET_PART.fullmatch(part) and "__" not in part for part in parts)


# --------------------------------------------------------------------------------------------
# TorchScript archives


def _load_torchscript(path: Any, data: bytes, model_class: Any, model_args: Any) -> Any:
    import torch

    try:
        scripted = torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception as err:  # torch raises many types for a bad archive
        raise FrontendError(
            f"{path}: not a readable TorchScript archive ({_first_line(err)})"
        ) from None
    state = {k: v.detach().clone() for k, v in scripted.state_dict().items()}
    if model_class is None:
        raise FrontendError(
            f"{path} is TorchScript: nsc reads its weights but cannot trace TorchScript code; "
            "give --model-class package.module:Class (and --model-args JSON) to rebuild the "
            "module with them, or save the model with torch.export.save (.pt2)"
        )
    return _rebuild(path, model_class, model_args, state)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
