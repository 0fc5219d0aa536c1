"""Prometheus metrics of one hub app, in its own registry (so two apps never mix)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("kozo_hub_requests_total", "HTTP requests answered",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("kozo_hub_request_seconds", "Seconds to answer a request",
                                 ["route"], registry=self.registry)
        self.chunks_stored = Counter("kozo_hub_chunks_stored_total",
                                     "Chunks newly stored", registry=self.registry)
        self.chunk_bytes = Counter("kozo_hub_chunk_bytes_total",
                                   "Compressed bytes of newly stored chunks",
                                   registry=self.registry)
        self.files_committed = Counter("kozo_hub_files_committed_total",
                                       "Files newly committed", registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
