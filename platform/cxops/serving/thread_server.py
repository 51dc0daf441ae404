"""An ASGI app served by uvicorn on a local port, in a thread of this process.

For the demo and the tests: a real server on a real port, started and stopped with the caller. Model
servers in production are `bentoml serve` processes (`cxops.serving.server`) or KServe pods.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from cxops.serving.server import ServerError, free_port

__all__ = ["ThreadServer"]


class ThreadServer:
    """`with ThreadServer(app) as server: httpx.get(server.url + ...)`; port 0 picks a free one."""

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 30
    ) -> None:
        import uvicorn

        self.host = host
        self.port = port or free_port(host)
        self.start_timeout = start_timeout
        # log_config=None: leave the process's logging (and a test runner's capture) as it is.
        config = uvicorn.Config(app, host=host, port=self.port, log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name=f"uvicorn-{self.port}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                raise ServerError(f"the server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
