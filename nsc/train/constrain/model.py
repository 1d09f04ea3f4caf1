"""The constrained network: a torch module whose forward pass IS the integer per-tick function
the compiled cores (and the host around them) compute.

Structure (what runs where; :data:`WHAT_RUNS_WHERE` prints it):

1. host, input: float features -> :func:`nsc.ops.host_input.quantize_features` (per-feature
   calibrated quantizer, float64), or token ids -> an integer embedding table
   (:func:`nsc.ops.host_input.embed_ids`);
2. host, optional projection: ``p = clip(floor((Wp a + bp) / dp), 0, L-1)`` (exact integers;
   without a projection the activities go to the cores unchanged);
3. cores: one or more populations of ReLU-like spiking units, ``W = L - 1`` ticks per step.
   Population ``k`` reads the previous one (host bursts for ``k = 0``: ``a`` spikes in the
   first ``a`` ticks of the window) and, if recurrent, its own spikes of the previous window
   (delay ``W``). Per tick: ``V += I + leak``; spike iff ``V >= alpha`` then ``V -= alpha``;
   ``V = clip(V, 0, V_MAX)``. ``h(t)`` = spikes in the window;
4. host, readout: integer logits ``Wo h + bo`` at the last step (or every step).

Backward (training only): quantized parameters pass gradients straight through; the spike
count of a window is differentiated through the rate proxy ``h ~ clamp((V_start + D) /
alpha, 0, L-1)`` with ``D = W_in c_in + W_rec h_prev + W leak`` evaluated at the exact values,
its derivative scaled by ``surrogate_damping`` (1: none; below 1 the gradient through ``T`` steps
shrinks like ``damping ** T``, which keeps it from exploding on long sequences).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nsc_runtime import hw

from ...defaults import DEFAULT_LEVELS
from ...errors import NscError
from ...ops.host_input import embed_ids, quantize_features

__all__ = [
    "HOST_BIAS_MAX",
    "READOUT_MAX",
    "WEIGHT_MAX",
    "WEIGHT_MIN",
    "WHAT_RUNS_WHERE",
    "ConstrainedNet",
    "LayerSpec",
    "NetSpec",
    "simulate_population",
    "ste_round",
]

WEIGHT_MIN, WEIGHT_MAX = -8, 7  # 4-bit two's-complement synaptic weights (encode-weights)
READOUT_MAX = 1023  # largest |readout weight| after integer scaling (the host is int64)
HOST_BIAS_MAX = 1 << 20  # |host bias| bound: far beyond saturation, keeps float32 sums exact

WHAT_RUNS_WHERE = """\
what runs where (nsc.constrain):
  host   input quantizer (float features -> activities, per-feature scale/offset, float64)
         or embedding lookup (token ids -> rows of an integer table)
  host   a Linear+ReLU right after the input: integer projection to activities in [0, L)
  cores  every nn.RNN layer (relu or tanh -> clipped-ReLU spiking units) and every
         Linear+ReLU after the first RNN: spiking populations, W = L-1 ticks per step,
         weights in [-8, 7], at most max_fanin inputs per neuron
  cores  every nn.GRU / nn.LSTM layer: hardware-native gated units (keep gate, write unit,
         state = write OR (keep AND state) per tick; docs/gated-units.md)
  host   the final Linear: integer readout of the spike counts (last step or every step)
  a bare Linear (no ReLU) before an RNN or Linear+ReLU is folded into the next layer"""


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` (half to even) forward, exactly; identity backward."""
    return torch.round(x).detach() + (x - x.detach())


@dataclass(frozen=True)
class LayerSpec:
    """One spiking population: ``size`` neurons reading ``inputs`` values, recurrent or not;
    or (``gated``) a layer of ``size`` hardware-native gated units (nsc.train.constrain.gated):
    ``2 * size`` keep/write units reading the inputs and the ``size`` states."""

    size: int
    inputs: int
    recurrent: bool
    gated: bool = False

    @property
    def units(self) -> int:
        """Rows of the layer's parameters (neurons with trained weights)."""
        return 2 * self.size if self.gated else self.size

    @property
    def hops(self) -> int:
        """Windows of the shared tick axis between reading the input and the output."""
        return 2 if self.gated else 1


@dataclass(frozen=True)
class NetSpec:
    """The shape of a constrained network (see the module docstring)."""

    input_kind: str  # "features" or "embedding"
    features: int  # input features (features) or embedding width (embedding)
    vocab: int  # embedding rows (0 for features)
    input_levels: int  # levels of the quantized input (L when no projection follows)
    proj: int  # host projection units (0: none)
    layers: tuple[LayerSpec, ...]
    classes: int
    levels: int = DEFAULT_LEVELS
    readout: str = "last"  # "last" or "all"

    @property
    def window(self) -> int:
        return self.levels - 1

    def check(self) -> None:
        if not 2 <= self.levels <= hw.DELAY_MAX + 1:
            raise NscError(f"levels must be in [2, {hw.DELAY_MAX + 1}], got {self.levels}")
        if self.input_kind not in ("features", "embedding"):
            raise NscError(f"input kind must be features or embedding, got {self.input_kind!r}")
        if self.readout not in ("last", "all"):
            raise NscError(f"readout must be 'last' or 'all', got {self.readout!r}")
        if not self.layers:
            raise NscError("a constrained network needs at least one spiking layer")


def simulate_population(
    train_in: np.ndarray,
    w_in: np.ndarray,
    w_rec: np.ndarray | None,
    alpha: np.ndarray,
    leak: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One population, tick by tick. ``train_in (B, T, W, n_in)`` input spikes of each window
    (0/1), integer-valued ``w_in (H, n_in)``, ``w_rec (H, H)`` or None, ``alpha``, ``leak (H,)``.
    Returns the spikes ``(B, T, W, H)`` and the potentials at each window start ``(B, T, H)``
    (float32 arrays of integers below 2**24: exact)."""
    b, t_len, window, _ = train_in.shape
    h_units = w_in.shape[0]
    f32 = np.float32
    w_in_t = np.ascontiguousarray(w_in.T, f32)
    w_rec_t = None if w_rec is None else np.ascontiguousarray(w_rec.T, f32)
    alpha32, leak32 = alpha.astype(f32), leak.astype(f32)
    v = np.zeros((b, h_units), f32)
    prev = np.zeros((b, window, h_units), f32)
    spikes = np.zeros((b, t_len, window, h_units), f32)
    v_start = np.zeros((b, t_len, h_units), f32)
    for t in range(t_len):
        current = train_in[:, t].astype(f32) @ w_in_t + leak32
        if w_rec_t is not None:
            current = current + prev @ w_rec_t
        v_start[:, t] = v
        prev = integrate_window(v, current, alpha32, spikes[:, t])
    return spikes, v_start


def integrate_window(
    v: np.ndarray, current: np.ndarray, alpha: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """The neurons' ticks of one window, in place: each tick ``v += current[:, k]``, fire
    where ``v >= alpha`` (written to ``out[:, k]``), subtract ``alpha`` where fired (linear
    reset), floor at 0 and cap at ``V_MAX`` (truenorth.md; the constrained models' neuron, the
    one definition both the Elman and the gated layers use). Returns ``out``."""
    for k in range(current.shape[1]):
        v += current[:, k]
        fired = v >= alpha
        out[:, k] = fired
        v -= fired * alpha
        np.clip(v, 0, hw.V_MAX, out=v)
    return out


class ConstrainedNet(nn.Module):
    """The constrained network of :class:`NetSpec` ``spec`` (module docstring: the exact
    forward). Latent float parameters, each quantized in the forward pass:

    - ``proj_w (P, F)``, ``proj_b (P,)``: ``round(clip(proj_w * dp, -host_max, host_max))``,
      ``round(proj_b * dp)`` for the fixed divisor ``dp = proj_div``;
    - per population ``k``: ``log_alpha{k}``: ``alpha = round(exp(.))`` in ``[1, ALPHA_MAX]``;
      ``w_in{k}``, ``w_rec{k}`` (levels out per level in): ``round(clip(w * alpha, -8, 7))``
      times the fan-in mask ``mask{k}``; ``leak{k}`` (levels per window):
      ``round(clip(leak * alpha / W, -255, 255))``;
    - ``readout_w (C, H)``, ``readout_b (C,)``: ``round(. * readout_scale)``.

    Fixed: the input quantizer (``in_scale``, ``in_offset``) or the integer embedding
    ``table``, ``proj_div``, the masks, ``readout_scale``.

    ``forward(x, lengths=None)`` returns the exact integer logits (float64): ``(B, C)`` at the
    last step (``lengths - 1`` when given) or ``(B, T, C)`` at every step. ``x`` is ``(B, T,
    F)`` float features, or ``(B, T)`` / ``(B, T, 1)`` token ids. While training, the same
    values carry surrogate gradients; the loss should use ``logits / logit_scale``.
    """

    def __init__(self, spec: NetSpec, host_weight_max: int = 127) -> None:
        super().__init__()
        spec.check()
        self.spec = spec
        self.host_weight_max = int(host_weight_max)
        self.surrogate_slope = 0.05
        self.surrogate_damping = 1.0  # scales d(spike count)/d(drive) in the exact backward
        self.relaxed = False
        self.summary: Any = None  # set by nsc.constrain (a ConstrainSummary)
        f64 = torch.float64
        if spec.input_kind == "features":
            self.register_buffer("in_scale", torch.ones(spec.features, dtype=f64))
            self.register_buffer("in_offset", torch.zeros(spec.features, dtype=f64))
        else:
            self.register_buffer("table", torch.zeros(spec.vocab, spec.features, dtype=f64))
        self.proj_div = 1
        if spec.proj:
            self.proj_w = nn.Parameter(torch.zeros(spec.proj, spec.features))
            self.proj_b = nn.Parameter(torch.zeros(spec.proj))
        for k, layer in enumerate(spec.layers):
            n_rec = layer.size if layer.recurrent or layer.gated else 0
            rows = layer.units
            self.register_parameter(f"w_in{k}", nn.Parameter(torch.zeros(rows, layer.inputs)))
            if n_rec:
                self.register_parameter(f"w_rec{k}", nn.Parameter(torch.zeros(rows, n_rec)))
            self.register_parameter(f"log_alpha{k}", nn.Parameter(torch.zeros(rows)))
            self.register_parameter(f"leak{k}", nn.Parameter(torch.zeros(rows)))
            self.register_buffer(
                f"mask{k}", torch.ones(rows, layer.inputs + n_rec, dtype=torch.bool)
            )
        last = spec.layers[-1].size
        self.readout_w = nn.Parameter(torch.zeros(spec.classes, last))
        self.readout_b = nn.Parameter(torch.zeros(spec.classes))
        self.register_buffer("readout_scale", torch.tensor(1.0, dtype=f64))

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "proj_div": self.proj_div,
            "surrogate_slope": self.surrogate_slope,
            "surrogate_damping": self.surrogate_damping,
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.proj_div = int(state["proj_div"])
        self.surrogate_slope = float(state["surrogate_slope"])
        self.surrogate_damping = float(state.get("surrogate_damping", 1.0))

    @property
    def logit_scale(self) -> float:
        """Integer logits / this = logits in the float model's units."""
        return float(self.readout_scale)

    # ---- quantized parameters (integer-valued tensors, straight-through gradients) -------

    def q_proj(self) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.host_weight_max
        w = ste_round((self.proj_w * self.proj_div).clamp(-m, m))
        b = ste_round((self.proj_b * self.proj_div).clamp(-HOST_BIAS_MAX, HOST_BIAS_MAX))
        return w, b

    def q_alpha(self, k: int) -> torch.Tensor:
        return ste_round(getattr(self, f"log_alpha{k}").exp().clamp(1, hw.ALPHA_MAX))

    def q_weights(self, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        alpha = self.q_alpha(k)[:, None]
        mask = getattr(self, f"mask{k}")
        n_in = self.spec.layers[k].inputs
        w_in = ste_round((getattr(self, f"w_in{k}") * alpha).clamp(WEIGHT_MIN, WEIGHT_MAX))
        w_in = w_in * mask[:, :n_in]
        if not (self.spec.layers[k].recurrent or self.spec.layers[k].gated):
            return w_in, None
        w_rec = ste_round((getattr(self, f"w_rec{k}") * alpha).clamp(WEIGHT_MIN, WEIGHT_MAX))
        return w_in, w_rec * mask[:, n_in:]

    def q_leak(self, k: int) -> torch.Tensor:
        leak = getattr(self, f"leak{k}") * self.q_alpha(k) / self.spec.window
        return ste_round(leak.clamp(hw.LEAK_MIN, hw.LEAK_MAX))

    def q_readout(self) -> tuple[torch.Tensor, torch.Tensor]:
        s = float(self.readout_scale)
        return ste_round(self.readout_w * s), ste_round(self.readout_b * s)

    @torch.no_grad()
    def clamp_latent_(self) -> None:
        """Keep every latent parameter within half a step of its representable range (call
        after each optimizer step, so that straight-through gradients stay meaningful)."""
        lo, hi = WEIGHT_MIN - 0.5, WEIGHT_MAX + 0.5
        if self.spec.proj:
            m = self.host_weight_max + 0.5
            self.proj_w.clamp_(-m / self.proj_div, m / self.proj_div)
        for k, layer in enumerate(self.spec.layers):
            getattr(self, f"log_alpha{k}").clamp_(0.0, math.log(hw.ALPHA_MAX))
            alpha = self.q_alpha(k)[:, None]
            names = ["w_in"] + (["w_rec"] if layer.recurrent or layer.gated else [])
            for name in names:
                w = getattr(self, f"{name}{k}")
                w.copy_(torch.maximum(torch.minimum(w, hi / alpha), lo / alpha))
            leak = getattr(self, f"leak{k}")
            top = (hw.LEAK_MAX + 0.5) * self.spec.window / alpha[:, 0]
            leak.copy_(torch.maximum(torch.minimum(leak, top), -top))

    # ---- forward ----

    def host_input(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """Integer host input ``(B, T, F)`` int64: quantized features or embedding rows."""
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if self.spec.input_kind == "embedding":
            if arr.ndim == 3 and arr.shape[2] == 1:
                arr = arr[..., 0]
            if arr.ndim != 2:
                raise NscError(f"token ids must have shape (batch, steps), got {arr.shape}")
            return embed_ids(arr, self.table.numpy())
        if arr.ndim != 3 or arr.shape[2] != self.spec.features:
            raise NscError(
                f"inputs must have shape (batch, steps, {self.spec.features}), got {arr.shape}"
            )
        return quantize_features(
            arr, self.in_scale.numpy(), self.in_offset.numpy(), self.spec.input_levels
        )

    def activities(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Host activities sent to the cores ``(B, T, P)`` in ``[0, L)`` (straight-through
        gradient through the projection)."""
        a = torch.from_numpy(self.host_input(x).astype(np.float64))
        if not self.spec.proj:
            return a.float()
        w, b = self.q_proj()
        top = float(self.spec.levels - 1)
        z = a @ w.double().T + b.double()  # integers below 2**53: exact in float64
        exact = torch.div(z.detach().round().long(), self.proj_div, rounding_mode="floor")
        exact_f = exact.clamp(0, self.spec.levels - 1).to(z.dtype)
        soft = z / self.proj_div
        inside = soft.clamp(0.0, top)
        soft = inside + self.surrogate_slope * (soft - inside)
        return (exact_f + (soft - soft.detach())).float()

    def populations(self, p: torch.Tensor) -> list[torch.Tensor]:
        """Spike counts ``(B, T, H_k)`` of every population for its ``T`` steps: exact values,
        proxy gradients.

        All populations share one tick axis (the cores run them together): population ``k``
        reads population ``k - 1``'s window ``g - 1`` in its window ``g`` (delay ``W``), so it
        answers step ``t`` in window ``t + k``; in window ``0 .. k - 1`` it integrates its leak
        alone. Every population is therefore simulated for ``T + depth`` windows. A gated layer
        takes two hops (nsc.train.constrain.gated): its state copies answer step ``t`` one
        window after its units."""
        from .gated import gated_counts

        window = self.spec.window
        steps = p.shape[1]
        depth = sum(layer.hops for layer in self.spec.layers) - 1
        if depth:
            p = torch.cat([p, p.new_zeros(p.shape[0], depth, p.shape[2])], 1)
        phase = torch.arange(window, dtype=torch.float32).view(1, 1, window, 1)
        train = (phase < p.detach().unsqueeze(2)).numpy().astype(np.float32)
        counts_in = p
        out = []
        top = float(self.spec.levels - 1)
        at = 0  # the window in which the current layer's input holds step 0
        for k, layer in enumerate(self.spec.layers):
            w_in, w_rec = self.q_weights(k)
            alpha, leak = self.q_alpha(k), self.q_leak(k)
            if layer.gated:
                assert w_rec is not None
                spikes, counts = gated_counts(
                    train, counts_in, w_in, w_rec, alpha, leak, window, self.surrogate_slope
                )
                at += 2
                out.append(counts[:, at - 1 : at - 1 + steps])
                train = np.concatenate([np.zeros_like(spikes[:, :1]), spikes[:, :-1]], 1)
                counts_in = torch.cat([torch.zeros_like(counts[:, :1]), counts[:, :-1]], 1)
                continue
            spikes, v_exact = simulate_population(
                train,
                w_in.detach().numpy(),
                None if w_rec is None else w_rec.detach().numpy(),
                alpha.detach().numpy(),
                leak.detach().numpy(),
            )
            counts = torch.from_numpy(spikes.sum(2))
            if torch.is_grad_enabled():
                v_ex = torch.from_numpy(v_exact)
                windows = []
                h_prev = torch.zeros_like(counts[:, 0])
                v = torch.zeros_like(counts[:, 0])
                for t in range(counts.shape[1]):
                    v = v_ex[:, t] + (v - v.detach())
                    drive = counts_in[:, t] @ w_in.T + window * leak
                    if w_rec is not None:
                        drive = drive + h_prev @ w_rec.T
                    u = (v + drive) / alpha
                    inside = u.clamp(0.0, top)
                    proxy = inside + self.surrogate_slope * (u - inside)
                    h_t = counts[:, t] + self.surrogate_damping * (proxy - proxy.detach())
                    windows.append(h_t)
                    v = torch.relu(v + drive - alpha * h_t)
                    h_prev = h_t
                counts = torch.stack(windows, 1)
            out.append(counts[:, at : at + steps])
            at += 1
            # the next population reads these spikes one window later
            train = np.concatenate([np.zeros_like(spikes[:, :1]), spikes[:, :-1]], 1)
            counts_in = torch.cat([torch.zeros_like(counts[:, :1]), counts[:, :-1]], 1)
        return out

    def rate_populations(self, p: torch.Tensor) -> list[torch.Tensor]:
        """The rate relaxation used to warm up training (not exact): per step
        ``h = clamp((Wq_in c_in + Wq_rec h_prev + W leak_q) / alpha, 0, L-1)`` with the quantized
        weights, thresholds and leaks (straight-through), but no ticks and no membrane
        carried from one window to the next (gated layers: :func:`.gated.rate_gated`)."""
        from .gated import rate_gated

        top = float(self.spec.levels - 1)
        window = self.spec.window
        out = []
        c_in = p
        for k, layer in enumerate(self.spec.layers):
            w_in, w_rec = self.q_weights(k)
            alpha, leak = self.q_alpha(k), self.q_leak(k)
            if layer.gated:
                assert w_rec is not None
                c_in = rate_gated(c_in, w_in, w_rec, alpha, leak, window)
                out.append(c_in)
                continue
            drive_in = c_in @ w_in.T + window * leak
            if w_rec is not None:
                h = torch.zeros(p.shape[0], layer.size)
                steps = []
                for t in range(p.shape[1]):
                    h = ((drive_in[:, t] + h @ w_rec.T) / alpha).clamp(0.0, top)
                    steps.append(h)
                c_in = torch.stack(steps, 1)
            else:
                c_in = (drive_in / alpha).clamp(0.0, top)
            out.append(c_in)
        return out

    def forward(self, x: torch.Tensor | np.ndarray, lengths: Any = None) -> torch.Tensor:
        """Exact integer logits (float64 values; see the class docstring for shapes). With
        ``relaxed = True`` (training warm-up only): the float relaxation's logits instead."""
        if self.relaxed:
            h = self.rate_populations(self.activities(x))[-1]
            w, b = self.q_readout()
        else:
            h = self.populations(self.activities(x))[-1]
            w, b = self.q_readout()
        if self.spec.readout == "last":
            if lengths is None:
                h = h[:, -1]
            else:
                idx = torch.as_tensor(lengths, dtype=torch.long) - 1
                h = h[torch.arange(h.shape[0]), idx]
        return h.double() @ w.double().T + b.double()

    @torch.no_grad()
    def integer_logits(self, x: Any, lengths: Any = None) -> np.ndarray:
        """The exact logits as an int64 array (evaluation, no gradient)."""
        y = self.forward(x, lengths).numpy()
        return np.rint(y).astype(np.int64)

    # ---- export ----

    def export_params(self) -> dict[str, Any]:
        """Every integer the host and the cores need (numpy arrays, plain values)."""

        def ints(t: torch.Tensor) -> np.ndarray:
            a = t.detach().double().numpy()
            if not np.array_equal(a, np.round(a)):
                raise NscError("a quantized parameter is not integer-valued (a bug)")
            return a.astype(np.int64)

        out: dict[str, Any] = {"levels": self.spec.levels, "window": self.spec.window}
        if self.spec.input_kind == "features":
            out["in_scale"] = self.in_scale.numpy().copy()
            out["in_offset"] = self.in_offset.numpy().copy()
            out["input_levels"] = self.spec.input_levels
        else:
            out["table"] = ints(self.table)
        if self.spec.proj:
            w, b = self.q_proj()
            out.update(proj_w=ints(w), proj_b=ints(b), proj_div=self.proj_div)
        for k in range(len(self.spec.layers)):
            w_in, w_rec = self.q_weights(k)
            out[f"w_in{k}"] = ints(w_in)
            if w_rec is not None:
                out[f"w_rec{k}"] = ints(w_rec)
            out[f"alpha{k}"] = ints(self.q_alpha(k))
            out[f"leak{k}"] = ints(self.q_leak(k))
            if self.spec.layers[k].gated:
                out[f"gated{k}"] = True
        w, b = self.q_readout()
        out.update(readout_w=ints(w), readout_b=ints(b), readout=self.spec.readout)
        return out

    def nsc_graph(self) -> Any:
        """The exact integer graph (level ``scheduled``) for :func:`nsc.compile`."""
        from .graph import build_graph

        return build_graph(self.export_params(), self.spec)

    def fan_in(self) -> list[int]:
        """The largest number of non-zero inputs of a neuron, per population."""
        out = []
        for k in range(len(self.spec.layers)):
            w_in, w_rec = self.q_weights(k)
            w = w_in if w_rec is None else torch.cat([w_in, w_rec], 1)
            out.append(int((w != 0).sum(1).max()))
        return out
