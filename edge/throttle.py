"""A token bucket that holds uploads to a bandwidth limit (bytes per second)."""

from __future__ import annotations

import asyncio
import time


class BandwidthLimit:
    """Shared by all uploads of one daemon, so the limit holds for the sum of them."""

    def __init__(self, bytes_per_second: int, burst_seconds: float = 0.25) -> None:
        if bytes_per_second <= 0:
            raise ValueError(f"bytes_per_second must be positive; got {bytes_per_second}")
        self.rate = float(bytes_per_second)
        self.capacity = max(self.rate * burst_seconds, 64 * 1024)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, amount: int) -> None:
        """Wait until `amount` bytes may go out."""
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= min(amount, self.capacity):
                    self.tokens -= amount
                    return
                await asyncio.sleep((min(amount, self.capacity) - self.tokens) / self.rate)
