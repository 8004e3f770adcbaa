"""A small HTTP/1.1 keep-alive client for the gateway's non-streamed upstream calls.

Why not httpx for these: profiled under the load benchmark (2,000 requests, 32 concurrent),
httpx/httpcore took about half of the gateway's event-loop CPU. Its connection pool checks
every pooled connection on each request (``has_expired`` -> ``is_socket_readable``, a
``select`` and a ``getpeername`` per connection), so the cost grows with the pool, and each
request passes through several layers of anyio wrappers. A chat completion is one POST with a
JSON body and a JSON answer, which needs far less: this client keeps idle connections in a
list, writes the request in one call and reads the status line, headers and a
``Content-Length`` or chunked body. It is used only for ``http://`` upstreams with no proxy
configured in the environment; HTTPS, proxies and streamed answers stay on httpx
(``upstream.py``).
"""

from __future__ import annotations

import asyncio
import os
import time
from urllib.parse import urlsplit

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


async def within(awaitable, timeout_s: float):
    """``await asyncio.wait_for(awaitable, timeout_s)`` without wait_for's extra task (Python
    3.11+ ``asyncio.timeout``): ``wait_for`` was ~7% of py-spy's samples of the gateway under load,
    two or three per request. Raises ``asyncio.TimeoutError`` alike."""
    if _timeout is None:
        return await asyncio.wait_for(awaitable, timeout_s)
    async with _timeout(timeout_s):
        return await awaitable


class HTTPFailure(Exception):
    """The connection failed (refused, reset, closed early, malformed answer)."""


def usable_for(url: str) -> bool:
    """Plain HTTP with no proxy in the environment (httpx would honour one; this client does not)."""
    return urlsplit(url).scheme == "http" and not any(os.environ.get(name) for name in PROXY_VARIABLES)


class KeepAliveClient:
    def __init__(self, url: str, headers: dict[str, str], max_connections: int = 64, keepalive_s: float = 2.0):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path or "/"
        host_header = parts.netloc.rsplit("@", 1)[-1]
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._head = (f"POST {self.path} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\n"
                      f"Accept: application/json\r\n{extra}").encode("latin-1")
        # idle connections expire before a typical server's keep-alive timeout (uvicorn: 5 s), so a
        # connection the server is closing is rarely reused; a failure on a reused one is retried
        self.keepalive_s = keepalive_s
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def post(self, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        """(status, body) of one POST; raises ``HTTPFailure`` or ``asyncio.TimeoutError``."""
        async with self._slots:
            return await within(self._post(body), timeout_s)

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        request = self._head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        reused = self._take_idle()
        if reused is not None:
            try:
                return await self._exchange(*reused, request)
            except (HTTPFailure, OSError):
                pass  # the server closed it under us; a chat completion has no side effect to repeat
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise HTTPFailure(f"ConnectError: {type(exc).__name__}") from exc
        try:
            return await self._exchange(reader, writer, request)
        except OSError as exc:
            raise HTTPFailure(f"ReadError: {type(exc).__name__}") from exc

    def _take_idle(self):
        now = time.monotonic()
        while self._idle:
            reader, writer, last_used = self._idle.pop()
            if now - last_used < self.keepalive_s and not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    async def _exchange(self, reader, writer, request: bytes) -> tuple[int, bytes]:
        keep = False
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            parts = status_line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise HTTPFailure("the server closed the connection or sent no HTTP status line")
            status, headers = int(parts[1]), {}
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n"):
                    break
                if not line:
                    raise HTTPFailure("the connection closed inside the response headers")
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                payload = await _read_chunked(reader)
            elif "content-length" in headers:
                payload = await reader.readexactly(int(headers["content-length"]))
            else:  # no length: the body ends when the server closes the connection
                payload = await reader.read()
                return status, payload
            keep = headers.get("connection", "").lower() != "close" and parts[0] == b"HTTP/1.1"
            return status, payload
        except asyncio.IncompleteReadError as exc:
            raise HTTPFailure("the connection closed inside the response body") from exc
        finally:
            if keep:
                self._idle.append((reader, writer, time.monotonic()))
            else:
                writer.close()

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise HTTPFailure("malformed chunked body") from exc
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
