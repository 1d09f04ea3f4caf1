"""The hardware-constrained model: its forward pass IS the integer spiking protocol.

Forward (exact, integer-valued; every value below is an integer held in float32/float64 far
below 2**24, so it is computed exactly):

1. host: ``x_q = clip(round(e * in_scale), -127, 127)`` per word (a fixed lookup table),
   ``p = clip(floor((Wp @ x_q + bp) / dp), 0, 15)``;
2. chip: ``H`` TrueNorth-class neurons, ``W = 15`` ticks per word; at tick ``k`` of word ``t``
   the input ``i`` spikes iff ``k < p_i(t)``; the recurrent input is the hidden spike pattern
   of the previous word delayed by ``W`` ticks; ``V += I + leak``; spike iff ``V >= alpha``
   then ``V -= alpha``, else ``V = max(V, 0)``; clamp to the 20-bit register;
   ``h(t)`` = spikes in the window;
3. host: ``logits = Wo @ h + bo``.

Backward (training only): quantized weights pass gradients straight through; ``floor`` of the
projection passes ``1/dp``; the spike count of a window is differentiated through the
word-level rate proxy ``h ~ (V_start + Win @ p + Wrec @ h_prev + W * leak) / alpha``
(clamped to ``[0, 15]`` with a small slope outside), evaluated at the exact forward values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nsc_runtime import hw

__all__ = [
    "LEVELS",
    "PROJ_BIAS_MAX",
    "READOUT_MAX",
    "WEIGHT_MAX",
    "WEIGHT_MIN",
    "WINDOW",
    "X_MAX",
    "ConstrainedRNN",
    "spike_simulate",
    "ste_round",
]

WINDOW = 15  # ticks per word = recurrent delay
LEVELS = 16  # activity levels 0..15
WEIGHT_MIN, WEIGHT_MAX = -8, 7  # 4-bit two's-complement synaptic weights
X_MAX = 127  # host input quantization: x_q in [-127, 127]
READOUT_MAX = 1023  # largest |readout weight| after integer scaling (argmax is scale-free)
PROJ_BIAS_MAX = 1 << 20  # |proj_b| bound: far beyond saturation, keeps float32 sums exact


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` (half to even) forward, exactly; identity backward."""
    return torch.round(x).detach() + (x - x.detach())


def spike_simulate(
    p: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    alpha: torch.Tensor,
    leak: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the on-chip layer tick by tick, batched, without gradient.

    ``p (B, T, P)`` activities, ``w_in (H, P)``, ``w_rec (H, H)``, ``alpha (H,)``,
    ``leak (H,)``: integer-valued tensors. Returns float32 spike counts ``h (B, T, H)`` and
    the membrane potentials at the start of each window ``v_start (B, T, H)``.

    The input currents of a window are two torch matmuls (their thread count follows
    ``torch.set_num_threads``); the per-tick loop runs on numpy views, which cost far less per
    call than torch ops on these small arrays. Every value is an integer below 2**24, so
    float32 is exact.
    """
    b, t_len, n_in = p.shape
    h_units = w_in.shape[0]
    f32 = torch.float32
    with torch.no_grad():
        p = p.detach().to(f32)
        w_in_t = w_in.detach().to(f32).T.contiguous()
        w_rec_t = w_rec.detach().to(f32).T.contiguous()
        leak_t = leak.detach().to(f32)
        alpha_np = alpha.detach().to(f32).numpy()
        ticks = torch.arange(WINDOW, dtype=f32).view(WINDOW, 1, 1)
        v = np.zeros((b, h_units), np.float32)
        spikes = np.zeros((WINDOW, b, h_units), np.float32)
        counts = np.empty((b, t_len, h_units), np.float32)
        v_start = np.empty((b, t_len, h_units), np.float32)
        for t in range(t_len):
            burst = (p[:, t].unsqueeze(0) > ticks).to(f32).view(WINDOW * b, n_in)
            recurrent = torch.from_numpy(spikes).view(WINDOW * b, h_units)
            current = (burst @ w_in_t + recurrent @ w_rec_t + leak_t).view(WINDOW, b, h_units)
            cur = current.numpy()
            v_start[:, t] = v
            spikes = np.empty_like(spikes)
            for k in range(WINDOW):
                v += cur[k]
                fired = v >= alpha_np
                spikes[k] = fired
                # linear reset after a spike (V >= alpha > 0 stays >= 0); floor at 0 otherwise
                v -= fired * alpha_np
                np.clip(v, 0, hw.V_MAX, out=v)
            counts[:, t] = spikes.sum(0)
    return torch.from_numpy(counts), torch.from_numpy(v_start)


class ConstrainedRNN(nn.Module):
    """Hardware-constrained Elman RNN (see the module docstring for the exact forward).

    Latent float parameters, in float-model units (output levels per input level), each
    quantized in the forward pass:

    - ``log_alpha (H,)``: thresholds ``alpha = round(exp(log_alpha))`` in ``[1, 2**18 - 1]``;
    - ``w_in (H, P)``, ``w_rec (H, H)``: ``round(clip(w * alpha_j, -8, 7))`` per row ``j``;
      ``mask (H, P + H)`` zeroes the inputs beyond the fan-in;
    - ``leak (H,)`` (levels per word): ``round(clip(leak * alpha / 15, -255, 255))``;
    - ``proj_w (P, 50)``, ``proj_b (P,)``: ``round(clip(proj_w * dp, -8, 7))``,
      ``round(clip(proj_b * dp, -2**20, 2**20))`` for the fixed divisor ``dp = proj_div``;
    - ``readout_w (6, H)``, ``readout_b (6,)``: ``round(w * readout_scale)`` for the fixed
      buffer ``readout_scale`` (set at initialisation so that ``max |Wo| = 1023``; argmax is
      scale-free, and the host readout is int32 of any range).

    Fixed: ``vocab`` and its GloVe rows ``embedding (V, 50)``, ``in_scale``, the host lookup
    table ``x_table (V, 50)`` of quantized rows, ``proj_div``, ``mask``.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        embedding: np.ndarray,
        in_scale: float,
        proj: int,
        hidden: int,
        classes: int,
        proj_div: int,
        mask: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        dim = embedding.shape[1]
        self.vocab = list(vocab)
        self.in_scale = float(in_scale)
        self.proj_div = int(proj_div)
        table = np.clip(np.round(embedding.astype(np.float64) * in_scale), -X_MAX, X_MAX)
        self.register_buffer("x_table", torch.from_numpy(table.astype(np.float32)))
        self.register_buffer("embedding", torch.from_numpy(embedding.astype(np.float32)))
        if mask is None:
            mask = torch.ones(hidden, proj + hidden, dtype=torch.bool)
        self.register_buffer("mask", mask.to(torch.bool))
        self.register_buffer("readout_scale", torch.tensor(1.0, dtype=torch.float64))
        self.proj_w = nn.Parameter(torch.zeros(proj, dim))
        self.proj_b = nn.Parameter(torch.zeros(proj))
        self.w_in = nn.Parameter(torch.zeros(hidden, proj))
        self.w_rec = nn.Parameter(torch.zeros(hidden, hidden))
        self.log_alpha = nn.Parameter(torch.zeros(hidden))
        self.leak = nn.Parameter(torch.zeros(hidden))
        self.readout_w = nn.Parameter(torch.zeros(classes, hidden))
        self.readout_b = nn.Parameter(torch.zeros(classes))
        self.surrogate_slope = 0.05

    @classmethod
    def from_integer_params(cls, params: dict[str, Any]) -> ConstrainedRNN:
        """A model whose quantized parameters are exactly the integers in ``params`` (the
        dict of :func:`nsc.demos.trec.export_integer_params`)."""
        w_in = torch.as_tensor(np.asarray(params["w_in"]), dtype=torch.float64)
        w_rec = torch.as_tensor(np.asarray(params["w_rec"]), dtype=torch.float64)
        hidden, proj = w_in.shape
        mask = params.get("fan_in_mask")
        if mask is None:
            mask = np.ones((hidden, proj + hidden), dtype=bool)
        model = cls(
            params["vocab"],
            np.asarray(params["embedding"], np.float32),
            params["in_scale"],
            proj,
            hidden,
            int(np.asarray(params["readout_w"]).shape[0]),
            params["proj_div"],
            torch.as_tensor(np.asarray(mask)),
        )
        alpha = torch.as_tensor(np.asarray(params["alpha"]), dtype=torch.float64)
        dp = float(params["proj_div"])
        with torch.no_grad():
            model.log_alpha.copy_(alpha.log())
            model.w_in.copy_(w_in / alpha[:, None])
            model.w_rec.copy_(w_rec / alpha[:, None])
            model.leak.copy_(torch.as_tensor(np.asarray(params["leak"])) * WINDOW / alpha)
            model.proj_w.copy_(torch.as_tensor(np.asarray(params["proj_w"]) / dp))
            model.proj_b.copy_(torch.as_tensor(np.asarray(params["proj_b"]) / dp))
            model.readout_w.copy_(torch.as_tensor(np.asarray(params["readout_w"])))
            model.readout_b.copy_(torch.as_tensor(np.asarray(params["readout_b"])))
        return model

    def get_extra_state(self) -> dict[str, Any]:
        return {"vocab": self.vocab, "in_scale": self.in_scale, "proj_div": self.proj_div}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.vocab = list(state["vocab"])
        self.in_scale = float(state["in_scale"])
        self.proj_div = int(state["proj_div"])

    # ---- quantized parameters (integer-valued tensors with straight-through gradients) ----

    def q_proj_w(self) -> torch.Tensor:
        return ste_round((self.proj_w * self.proj_div).clamp(WEIGHT_MIN, WEIGHT_MAX))

    def q_proj_b(self) -> torch.Tensor:
        return ste_round((self.proj_b * self.proj_div).clamp(-PROJ_BIAS_MAX, PROJ_BIAS_MAX))

    def q_w_in(self) -> torch.Tensor:
        p = self.w_in.shape[1]
        w = (self.w_in * self.q_alpha()[:, None]).clamp(WEIGHT_MIN, WEIGHT_MAX)
        return ste_round(w) * self.mask[:, :p]

    def q_w_rec(self) -> torch.Tensor:
        p = self.w_in.shape[1]
        w = (self.w_rec * self.q_alpha()[:, None]).clamp(WEIGHT_MIN, WEIGHT_MAX)
        return ste_round(w) * self.mask[:, p:]

    def q_alpha(self) -> torch.Tensor:
        return ste_round(self.log_alpha.exp().clamp(1, hw.ALPHA_MAX))

    def q_leak(self) -> torch.Tensor:
        leak = self.leak * self.q_alpha() / WINDOW
        return ste_round(leak.clamp(hw.LEAK_MIN, hw.LEAK_MAX))

    def q_readout(self) -> tuple[torch.Tensor, torch.Tensor]:
        s = float(self.readout_scale)
        return ste_round(self.readout_w * s), ste_round(self.readout_b * s)

    @torch.no_grad()
    def clamp_latent_(self) -> None:
        """Keep every latent parameter within half a step of its representable range (call
        after each optimizer step, so that straight-through gradients stay meaningful)."""
        self.log_alpha.clamp_(0.0, math.log(hw.ALPHA_MAX))
        alpha = self.q_alpha()[:, None]
        lo, hi = WEIGHT_MIN - 0.5, WEIGHT_MAX + 0.5
        self.proj_w.clamp_(lo / self.proj_div, hi / self.proj_div)
        for w in (self.w_in, self.w_rec):
            w.copy_(torch.maximum(torch.minimum(w, hi / alpha), lo / alpha))
        leak_hi = (hw.LEAK_MAX + 0.5) * WINDOW / alpha[:, 0]
        self.leak.copy_(torch.maximum(torch.minimum(self.leak, leak_hi), -leak_hi))

    # ---- forward ----

    def project(self, ids: torch.Tensor) -> torch.Tensor:
        """Host projection: activities ``p (B, T, P)`` in ``0..15`` (straight-through)."""
        x = self.x_table[ids]
        z = x @ self.q_proj_w().T + self.q_proj_b()
        exact = torch.div(z.detach().round().long(), self.proj_div, rounding_mode="floor")
        exact = exact.clamp(0, LEVELS - 1).to(z.dtype)
        soft = z / self.proj_div
        inside = soft.clamp(0.0, float(LEVELS - 1))
        soft = inside + self.surrogate_slope * (soft - inside)
        return exact + (soft - soft.detach())

    def hidden(self, p: torch.Tensor) -> torch.Tensor:
        """Spike counts ``h (B, T, H)``: exact values, proxy gradients.

        The proxy runs word by word: ``u = (V_start + D) / alpha`` with the drive
        ``D = Win p + Wrec h_prev + 15 leak``; ``h ~ clamp(u, 0, 15)`` (slope
        ``surrogate_slope`` outside) and ``V_end ~ relu(V_start + D - alpha h)`` carry the
        gradient from word to word, while the values are replaced by the exact ones.
        """
        w_in, w_rec, alpha, leak = self.q_w_in(), self.q_w_rec(), self.q_alpha(), self.q_leak()
        counts, v_exact = spike_simulate(p, w_in, w_rec, alpha, leak)
        if not torch.is_grad_enabled():
            return counts
        out = []
        h_prev = torch.zeros_like(counts[:, 0])
        v = torch.zeros_like(counts[:, 0])
        top = float(LEVELS - 1)
        for t in range(p.shape[1]):
            v = v_exact[:, t] + (v - v.detach())
            drive = p[:, t] @ w_in.T + h_prev @ w_rec.T + WINDOW * leak
            u = (v + drive) / alpha
            inside = u.clamp(0.0, top)
            proxy = inside + self.surrogate_slope * (u - inside)
            h_t = counts[:, t] + (proxy - proxy.detach())
            out.append(h_t)
            v = torch.relu(v + drive - alpha * h_t)
            h_prev = h_t
        return torch.stack(out, 1)

    def integer_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """Integer logits ``(B, T, 6)`` at every word, float64 (exact, no gradient)."""
        with torch.no_grad():
            h = self.hidden(self.project(ids)).double()
            w, b = self.q_readout()
            return h @ w.double().T + b.double()

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Float logits ``(B, 6)`` at the last word: the integer logits divided by
        ``readout_scale`` (same argmax up to float32 rounding; evaluation uses
        :meth:`integer_logits`)."""
        h = self.hidden(self.project(ids))
        last = h[torch.arange(ids.shape[0]), lengths - 1]
        w, b = self.q_readout()
        return (last @ w.T + b) / float(self.readout_scale)
