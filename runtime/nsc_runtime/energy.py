"""Power and energy estimates from a run's counters, with both models of ``hw.py``.

Model 1 (pro rata): every used core draws its share of a 70 mW chip, 17.1 uW per core.
Model 2 (event model): 15.7 uW static per used core plus 2.3 pJ per synaptic event, fitted to
the published power-vs-rate sweep (Merolla 2014). Both assume real time (1 ms per tick).
Inter-chip links (systems of several chips): each spike that leaves its chip costs
``hw.SPIKE_PACKET_BITS`` (32, an assumption) x 2 pJ per off-chip bit, added to model 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import hw


@dataclass(frozen=True)
class Estimate:
    """Average power in watts under each model, and energy over the run in joules."""

    cores: int
    ticks: int
    synaptic_events: int
    pro_rata_w: float
    event_model_w: float
    inter_chip_spikes: int = 0
    inter_chip_w: float = 0.0  # included in event_model_w

    @property
    def seconds(self) -> float:
        """Real-time duration of the run."""
        return self.ticks * hw.TICK_SECONDS

    def lines(self) -> list[str]:
        """Human-readable lines, each with its model's assumptions."""
        return [
            f"power, model 1 (pro rata: {hw.CHIP_POWER_W * 1e3:.0f} mW chip / "
            f"{hw.CORES_PER_CHIP} cores x {self.cores} used): {_si(self.pro_rata_w, 'W')}, "
            f"{_si(self.pro_rata_w * self.seconds, 'J')} over {self.seconds:g} s",
            f"power, model 2 ({hw.STATIC_W_PER_CORE * 1e6:.1f} uW static per used core + "
            f"{hw.JOULES_PER_SYNAPTIC_EVENT * 1e12:.1f} pJ per synaptic event, real time): "
            f"{_si(self.event_model_w, 'W')}, "
            f"{_si(self.event_model_w * self.seconds, 'J')} over {self.seconds:g} s",
            *self._chip_lines(),
        ]

    def _chip_lines(self) -> list[str]:
        if not self.inter_chip_spikes:
            return []
        bits = hw.SPIKE_PACKET_BITS
        pj = hw.JOULES_PER_OFF_CHIP_BIT * 1e12
        return [
            f"inter-chip links ({self.inter_chip_spikes} spikes x {bits} bits (assumed) x "
            f"{pj:g} pJ/bit, in model 2): {_si(self.inter_chip_w, 'W')}, "
            f"{_si(self.inter_chip_w * self.seconds, 'J')} over {self.seconds:g} s"
        ]


def estimate(cores: int, synaptic_events: int, ticks: int, inter_chip_spikes: int = 0) -> Estimate:
    """Both power models for ``cores`` used cores running ``ticks`` ticks in real time;
    ``inter_chip_spikes``: spikes routed between chips (priced in model 2)."""
    chip_w = hw.inter_chip_joules(inter_chip_spikes) / (max(ticks, 1) * hw.TICK_SECONDS)
    return Estimate(
        cores=cores,
        ticks=ticks,
        synaptic_events=synaptic_events,
        pro_rata_w=hw.power_pro_rata_w(cores),
        event_model_w=hw.power_event_model_w(cores, synaptic_events, ticks) + chip_w,
        inter_chip_spikes=inter_chip_spikes,
        inter_chip_w=chip_w,
    )


def _si(value: float, unit: str) -> str:
    """``value`` with an SI prefix (m, u, n, p) and three significant digits."""
    for factor, prefix in ((1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"
