"""The processor's HTTP port: ``/healthz``, ``/readyz``, ``/metrics`` and lookups.

A small threaded server from the standard library; it only reads what the stream loop
publishes (its health object, the metrics registry) and the lookup functions it is
given, so it never blocks the loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from processor.ops import metrics

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, dict[str, Any]]]
Lookup = Callable[[str], dict[str, Any] | None]


class OpsServer:
    """Serves health, readiness, metrics and ``/v1/<name>/<key>`` lookups in a thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        liveness: Check,
        readiness: Check,
        lookups: dict[str, Lookup] | None = None,
    ) -> None:
        self.liveness = liveness
        self.readiness = readiness
        self.lookups = lookups or {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="ops-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> OpsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path == "/metrics":
            body = generate_latest(metrics.REGISTRY)
            self._send(request, 200, body, CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/readyz"):
            ok, details = (self.liveness if path == "/healthz" else self.readiness)()
            self._json(request, 200 if ok else 503, {"ok": ok, **details})
        elif path.startswith("/v1/"):
            parts = path.split("/", 3)
            lookup = self.lookups.get(parts[2]) if len(parts) == 4 else None
            if lookup is None:
                self._json(request, 404, {"error": "unknown lookup"})
                return
            found = lookup(unquote(parts[3]))
            if found is None:
                self._json(request, 404, {"error": "not found", "key": unquote(parts[3])})
            else:
                self._json(request, 200, found)
        else:
            self._json(request, 404, {"error": "not found"})

    @staticmethod
    def _json(request: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, default=str).encode()
        OpsServer._send(request, status, body, "application/json")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


def poll_liveness(last_poll: Callable[[], float], max_silence: float) -> Check:
    """Alive while the poll loop has polled within ``max_silence`` seconds."""

    def check() -> tuple[bool, dict[str, Any]]:
        silence = time.monotonic() - last_poll()
        return silence <= max_silence, {"seconds_since_poll": round(silence, 3)}

    return check
