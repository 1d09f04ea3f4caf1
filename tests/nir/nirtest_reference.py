"""A plain numpy simulator of NIR graphs in discrete time, written from NIR's documented
equations (not from nsc's importer), used as the oracle of the import tests.

Conventions (the ones docs/nir.md states): one step per ``dt``; edges are instantaneous within a
step, except an edge that closes a cycle (found by depth-first search from the inputs), which
carries the previous step's value (before step 0: the node's value on zero spikes, so an
Affine's bias, as snnTorch's RLeaky computes ``recurrent(0)``); forward Euler for the ODEs:

- IF: ``v += r*I``; I: ``v += r*I``;
- LIF/LI: ``v += dt/tau * (v_leak - v + r*I)`` (``tau = r = inf`` read as gain 1);
- CubaLIF: ``i += dt/tau_syn * (-i + w_in*I)``, then ``v += dt/tau_mem * (v_leak - v + r*i)``;
- spike ``z = v > v_threshold``, then ``v = v_reset`` (or ``v -= v_threshold`` with
  ``reset="subtract"``); Threshold after I/LI spikes without reset;
- Delay: ``y_i[t] = x_i[t - delay_i/dt]``.
"""

from __future__ import annotations

import numpy as np


def _gain(r: np.ndarray, tau: np.ndarray, dt: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        g = r * dt / tau
    return np.where(np.isinf(r) & np.isinf(tau), 1.0, g)


def simulate(graph, x: np.ndarray, dt: float = 1e-4, reset: str = "nir") -> dict[str, np.ndarray]:
    """Outputs ``{output name: (batch, steps, n)}`` of a flat NIR graph for input spikes ``x``
    of shape ``(batch, steps, n_in)`` (one Input)."""
    import nir

    nodes = graph.nodes
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    succs: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in graph.edges:
        preds[b].append(a)
        succs[a].append(b)
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    # depth-first order from the inputs; back edges carry the previous step
    back: set[tuple[str, str]] = set()
    order: list[str] = []
    state: dict[str, int] = {}

    def dfs(u: str) -> None:
        state[u] = 1
        for v in succs[u]:
            if state.get(v) == 1:
                back.add((u, v))
            elif not state.get(v):
                dfs(v)
        state[u] = 2
        order.append(u)

    for i in inputs:
        dfs(i)
    order.reverse()
    batch, steps, _ = x.shape
    value: dict[str, np.ndarray] = {}
    prev: dict[str, np.ndarray] = {}
    mem: dict[str, dict[str, np.ndarray]] = {}
    history: dict[str, list[np.ndarray]] = {}
    outs = {k: [] for k, v in nodes.items() if isinstance(v, nir.Output)}

    def size(name: str) -> int:
        node = nodes[name]
        for attr in ("v_threshold", "r", "threshold", "scale", "delay"):
            if hasattr(node, attr):
                return int(np.asarray(getattr(node, attr)).size)
        if hasattr(node, "weight"):
            return int(node.weight.shape[0])
        return int(np.prod(node.output_type["output"]))

    for t in range(steps):
        for name in order:
            node = nodes[name]
            if isinstance(node, nir.Input):
                value[name] = x[:, t].astype(np.float64)
                continue
            total = None
            for p in preds[name]:
                v = prev.get(p) if (p, name) in back else value[p]
                if v is None:  # before step 0: spikes are 0, so an Affine gives its bias
                    v = np.zeros((batch, size(p)))
                    if isinstance(nodes[p], nir.Affine):
                        v = v + np.asarray(nodes[p].bias)
                total = v if total is None else total + v
            assert total is not None
            st = mem.setdefault(name, {})
            if isinstance(node, nir.Output):
                value[name] = total
                outs[name].append(total)
            elif isinstance(node, nir.Affine):
                value[name] = total @ np.asarray(node.weight).T + np.asarray(node.bias)
            elif isinstance(node, nir.Linear):
                value[name] = total @ np.asarray(node.weight).T
            elif isinstance(node, nir.Scale):
                value[name] = total * node.scale
            elif isinstance(node, nir.Flatten):
                value[name] = total
            elif isinstance(node, nir.Delay):
                ks = np.broadcast_to(
                    np.round(np.asarray(node.delay) / dt).astype(int), (total.shape[1],)
                )
                hist = history.setdefault(name, [])
                hist.append(total)
                value[name] = np.stack(
                    [
                        hist[-1 - k][:, i] if len(hist) > k else np.zeros(batch)
                        for i, k in enumerate(ks)
                    ],
                    axis=1,
                )
            elif isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)):
                v = st.get("v", np.zeros_like(total))
                if isinstance(node, nir.IF):
                    v = v + node.r * total
                elif isinstance(node, nir.LIF):
                    rate = dt / node.tau
                    drift = np.where(np.isinf(node.tau), 0.0, rate * node.v_leak)
                    v = v + np.where(np.isinf(node.tau), 0.0, -rate * v) + drift
                    v = v + _gain(node.r, node.tau, dt) * total
                else:
                    i = st.get("i", np.zeros_like(total))
                    i = i + dt / node.tau_syn * (-i + node.w_in * total)
                    st["i"] = i
                    rate = dt / node.tau_mem
                    v = v + rate * (node.v_leak - v) + _gain(node.r, node.tau_mem, dt) * i
                z = v > node.v_threshold
                if reset == "subtract":
                    v = np.where(z, v - node.v_threshold, v)
                else:
                    v = np.where(z, node.v_reset, v)
                st["v"] = v
                value[name] = z.astype(np.float64)
            elif isinstance(node, (nir.I, nir.LI)):
                v = st.get("v", np.zeros_like(total))
                if isinstance(node, nir.I):
                    v = v + node.r * total
                else:
                    rate = dt / node.tau
                    v = v + rate * (node.v_leak - v) + _gain(node.r, node.tau, dt) * total
                st["v"] = v
                value[name] = v
            elif isinstance(node, nir.Threshold):
                value[name] = (total > node.threshold).astype(np.float64)
            else:
                raise NotImplementedError(type(node).__name__)
        prev = dict(value)
    return {k: np.stack(v, axis=1) for k, v in outs.items()}
