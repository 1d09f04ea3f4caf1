"""Power and energy estimates from a run's counters, with both models of ``hw.py``.

Model 1 (pro rata): every used core draws its share of a 70 mW chip, 17.1 uW per core.
Model 2 (event model): 15.7 uW static per used core plus 2.3 pJ per synaptic event, fitted to
the published power-vs-rate sweep (Merolla 2014). Both assume real time (1 ms per tick).
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
        ]


def estimate(cores: int, synaptic_events: int, ticks: int) -> Estimate:
    """Both power models for ``cores`` used cores running ``ticks`` ticks in real time."""
    return Estimate(
        cores=cores,
        ticks=ticks,
        synaptic_events=synaptic_events,
        pro_rata_w=hw.power_pro_rata_w(cores),
        event_model_w=hw.power_event_model_w(cores, synaptic_events, ticks),
    )


def _si(value: float, unit: str) -> str:
    """``value`` with an SI prefix (m, u, n, p) and three significant digits."""
    for factor, prefix in ((1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"
