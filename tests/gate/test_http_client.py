"""The gateway's lean upstream client against real sockets on 127.0.0.1: keep-alive reuse,
chunked bodies, a server that closes after each answer, one that dies mid-answer, timeouts."""

from __future__ import annotations

import asyncio

import pytest

from tunewise.gate.http_client import HTTPFailure, KeepAliveClient, usable_for


async def serve(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"


async def read_request(reader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    return head + await reader.readexactly(length)


def test_keep_alive_chunked_and_close():
    async def run():
        connections, seen = [], []

        async def handler(reader, writer):
            connections.append(writer)
            while True:
                try:
                    request = await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                seen.append(request)
                if b"chunked" in request:
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n")
                elif b"close" in request:
                    writer.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy")
                    await writer.drain()
                    writer.close()
                    break
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()

        server, url = await serve(handler)
        client = KeepAliveClient(url, {"Authorization": "Bearer k"})
        assert await client.post(b'{"x": 1}', 5) == (200, b"{}")
        assert await client.post(b'{"x": 2}', 5) == (200, b"{}")
        assert len(connections) == 1  # reused
        assert await client.post(b'"chunked"', 5) == (200, b'{"a": 1}')
        assert await client.post(b'"close"', 5) == (503, b"busy")
        assert await client.post(b'{"x": 3}', 5) == (200, b"{}")
        assert len(connections) == 2  # a new one after the server closed
        assert all(b"Authorization: Bearer k" in r and r.startswith(b"POST /v1/chat/completions HTTP/1.1") for r in seen)
        await client.aclose()
        server.close()

    asyncio.run(run())


def test_failures_and_timeouts():
    async def run():
        async def dies(reader, writer):
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"trunc")
            await writer.drain()
            writer.close()

        async def silent(reader, writer):
            await read_request(reader)
            await asyncio.sleep(5)

        server, url = await serve(dies)
        with pytest.raises(HTTPFailure, match="closed inside the response body"):
            await KeepAliveClient(url, {}).post(b"{}", 5)
        server.close()
        server, url = await serve(silent)
        with pytest.raises(asyncio.TimeoutError):
            await KeepAliveClient(url, {}).post(b"{}", 0.3)
        server.close()
        port = url.split(":")[2].split("/")[0]
        await server.wait_closed()
        with pytest.raises(HTTPFailure, match="ConnectError"):
            await KeepAliveClient(f"http://127.0.0.1:{port}/v1", {}).post(b"{}", 5)

    asyncio.run(run())


def test_only_plain_http_without_a_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert usable_for("http://10.0.0.5:8000/v1/chat/completions")
    assert not usable_for("https://api.example.com/v1/chat/completions")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    assert not usable_for("http://10.0.0.5:8000/v1/chat/completions")
