"""Prometheus metrics of one service: decisions, latency, audit batch sizes, errors."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    """The service's metrics, in a registry of their own (never the process-global one, so two
    services in one process, as in tests, count apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "clearline_decisions",
            "Decisions answered, by policy, version and action.",
            ["policy", "version", "action"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "clearline_request_seconds",
            "Time to answer a request, by route.",
            ["route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.audit_batch = Histogram(
            "clearline_audit_batch_records",
            "Records per audit log transaction (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
            registry=self.registry,
        )
        self.errors = Counter(
            "clearline_errors",
            "Requests refused, by error code.",
            ["code"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The metrics in Prometheus text format."""
        return generate_latest(self.registry)
