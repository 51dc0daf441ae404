"""A steady, bounded load of KServe V2 requests at a gateway or model server, for canary rehearsals and
benchmarks.

Open loop: request i is sent at `i / rate` seconds from the start whether or not earlier answers came
back (at most `concurrency` in flight), so a slow server shows up as latency rather than as a lower
request rate. Every request names one customer, drawn uniformly from `customers`; the answer's
`x-cxops-model-version` header tells which version served it.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from cxops.canary.gateway import VERSION_HEADER

__all__ = ["LoadRun", "Sent", "v2_body", "warm_up"]


@dataclass(frozen=True)
class Sent:
    """One request of a load run."""

    started: float
    """Seconds after the start of the run."""
    customer: str
    status: int
    """HTTP status; 0 when no answer came (connection error or timeout)."""
    version: str
    latency_ms: float
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 500


def v2_body(model: str, customer: str) -> dict:
    return {
        "id": customer,
        "inputs": [{"name": "customer_id", "shape": [1], "datatype": "BYTES", "data": [customer]}],
    }


def warm_up(url: str, model: str, customers: Sequence[str], requests: int = 30) -> None:
    """Sequential requests to a freshly started server, so that its first real requests are not the ones
    that load its online-store client and caches (several seconds on a cold server)."""
    with httpx.Client(timeout=60.0) as client:
        for customer in list(customers)[:requests]:
            client.post(url.rstrip("/") + f"/v2/models/{model}/infer", json=v2_body(model, customer))


class LoadRun:
    """Runs the load in a background thread: `start()`, then `stop()` returns every request sent."""

    def __init__(
        self,
        url: str,
        model: str,
        customers: Sequence[str],
        *,
        rate: float,
        duration_s: float,
        concurrency: int = 32,
        timeout_s: float = 10.0,
        seed: int = 0,
    ) -> None:
        if rate <= 0 or duration_s <= 0 or not customers:
            raise ValueError("a load needs a positive rate and duration and at least one customer")
        self.url = url.rstrip("/") + f"/v2/models/{model}/infer"
        self.model, self.customers = model, list(customers)
        self.rate, self.duration_s, self.concurrency, self.timeout_s = (
            rate,
            duration_s,
            concurrency,
            timeout_s,
        )
        self._rng = random.Random(seed)
        self._sent: list[Sent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="canary-load", daemon=True)
        self.started_at = 0.0

    def start(self) -> LoadRun:
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def sent(self) -> list[Sent]:
        """The requests answered so far (a copy)."""
        return list(self._sent)

    def wait(self) -> list[Sent]:
        """Block until the planned duration is over and every answer is in."""
        self._thread.join()
        return self.sent()

    def stop(self) -> list[Sent]:
        self._stop.set()
        return self.wait()

    def _main(self) -> None:
        asyncio.run(self._drive())

    async def _drive(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        gate = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as client:
            for i in range(int(self.rate * self.duration_s)):
                if self._stop.is_set():
                    break
                due = self.started_at + i / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await gate.acquire()
                task = asyncio.create_task(self._one(client, self._rng.choice(self.customers), gate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)

    async def _one(self, client: httpx.AsyncClient, customer: str, gate: asyncio.Semaphore) -> None:
        started = time.monotonic()
        try:
            response = await client.post(self.url, json=v2_body(self.model, customer))
            status, version, error = response.status_code, response.headers.get(VERSION_HEADER, ""), ""
        except httpx.HTTPError as exc:
            status, version, error = 0, "", type(exc).__name__
        finally:
            gate.release()
        self._sent.append(
            Sent(
                started=started - self.started_at,
                customer=customer,
                status=status,
                version=version,
                latency_ms=(time.monotonic() - started) * 1000.0,
                error=error,
            )
        )
