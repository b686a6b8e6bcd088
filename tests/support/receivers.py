"""A real HTTP endpoint on loopback for callbacks: it records each POST as it arrived."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


@dataclass(frozen=True)
class Call:
    """One POST as received: the status answered, the raw body bytes and the headers."""

    status: int
    body: bytes
    headers: dict[str, str]


class Receiver:
    """Answers `status` (503) `failures` times, then 204; `url` is under `prefix`
    (`<origin>/hooks/`). `paths` holds each POST's path."""

    def __init__(self, failures: int = 0, status: int = 503) -> None:
        self.failures = failures
        self.paths: list[str] = []
        self.calls: list[Call] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answer = status if receiver.failures > 0 else 204
                receiver.failures -= 1
                receiver.paths.append(self.path)
                receiver.calls.append(Call(answer, body, dict(self.headers.items())))
                self.send_response(answer)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.prefix = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/"
        self.url = f"{self.prefix}counsel"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
