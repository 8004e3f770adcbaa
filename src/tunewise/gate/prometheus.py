"""The few gateway metrics, rendered in the Prometheus text exposition format (version 0.0.4).

Written by hand rather than with prometheus_client: four metric families do not justify a
dependency, and the format is a stable, documented text layout.
"""

from __future__ import annotations

import threading

# Gate decision latency buckets in seconds: the aim is < 5 ms, embeddings on CPU take ~10-20 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        lines = [f'{name}_bucket{{le="{bound}"}} {count}' for bound, count in zip(self.buckets, self.counts)]
        lines += [f'{name}_bucket{{le="+Inf"}} {self.count}', f"{name}_sum {self.total:.6f}", f"{name}_count {self.count}"]
        return lines


class GatewayMetrics:
    """Counters by outcome, in-flight gauge, gate and request latency histograms."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}  # (outcome, status) -> count
        self.in_flight = 0
        self.gate_seconds = Histogram()
        self.request_seconds = Histogram()

    def count(self, outcome: str, status: int) -> None:
        with self._lock:
            self.requests[(outcome, status)] = self.requests.get((outcome, status), 0) + 1

    def observe_gate(self, seconds: float) -> None:
        with self._lock:
            self.gate_seconds.observe(seconds)

    def observe_request(self, seconds: float) -> None:
        with self._lock:
            self.request_seconds.observe(seconds)

    def render(self) -> str:
        with self._lock:
            lines = ["# HELP tunewise_gateway_requests_total Chat completion requests by outcome and HTTP status.",
                     "# TYPE tunewise_gateway_requests_total counter"]
            lines += [f'tunewise_gateway_requests_total{{outcome="{outcome}",status="{status}"}} {count}'
                      for (outcome, status), count in sorted(self.requests.items())]
            lines += ["# HELP tunewise_gateway_in_flight Requests being handled now.",
                      "# TYPE tunewise_gateway_in_flight gauge", f"tunewise_gateway_in_flight {self.in_flight}",
                      "# HELP tunewise_gate_decision_seconds Time from a request's arrival at the gate to its verdict.",
                      "# TYPE tunewise_gate_decision_seconds histogram"]
            lines += self.gate_seconds.lines("tunewise_gate_decision_seconds")
            lines += ["# HELP tunewise_gateway_request_seconds Whole request time, gate and model included.",
                      "# TYPE tunewise_gateway_request_seconds histogram"]
            lines += self.request_seconds.lines("tunewise_gateway_request_seconds")
        return "\n".join(lines) + "\n"
