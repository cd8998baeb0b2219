"""The registry client gives up on a request that is never answered and tries again.

A registry that reads a request and never replies (the connection stays open) must not
hang a processor or a reader for ever. A local socket server plays that registry: it
swallows the first request, then answers the next one.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from processor.stream import avro


class SilentOnceRegistry:
    """Swallows the first request (keeps its connection open), answers later ones."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests = 0
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        while True:
            try:
                request = connection.recv(65536)
            except OSError:
                return
            if not request:
                return
            self.requests += 1
            if self.requests == 1:
                self.held.append(connection)  # read, never answered, never closed
                return
            body = json.dumps(["bounces.failures-value"]).encode()
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def registry() -> Iterator[SilentOnceRegistry]:
    server = SilentOnceRegistry()
    yield server
    server.close()


def test_an_unanswered_request_times_out_and_is_retried(registry: SilentOnceRegistry) -> None:
    client = avro.registry_client(
        f"http://127.0.0.1:{registry.port}",
        {"timeout": "1", "retries.wait.ms": "10"},  # text, as from the environment
    )
    started = time.monotonic()
    assert client.get_subjects() == ["bounces.failures-value"]
    assert registry.requests == 2
    assert time.monotonic() - started < 30  # bounded, not hung (generous on a busy host)


def test_requests_are_bounded_by_default() -> None:
    client = avro.registry_client("http://127.0.0.1:1")
    assert client._rest_client.timeout == avro.REQUEST_TIMEOUT_SECONDS
