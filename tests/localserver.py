"""A local HTTP server on 127.0.0.1 for the tests (never the real network): it serves files, redirects like
osf.io, honours ``Range``, can cut a transfer short, ignore ``Range``, answer errors, stall or drip, and records
every request and the bytes it sent.

Used by the download tests (tests/cli/test_download.py), the readers of URLs (tests/read/, tests/nwb/) and
benchmarks/bench_remote.py (which counts the requests and bytes of a remote read).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator


@dataclass
class FileServer:
    """State of a running local server: what it serves, what it was asked, which faults to inject."""

    routes: dict[str, Path]
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: path -> bytes after which the next GET of it is cut (one shot each).
    cut_after: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    base_url: str = ""
    #: Bytes of the body sent for each request (same order as ``requests``).
    sent: list[int] = field(default_factory=list)
    #: HTTP statuses to answer the next GETs with, one each (e.g. ``[500, 503]``), before serving again.
    fail_next: list[int] = field(default_factory=list)
    #: Requests answered normally before every later one stalls (no answer until the server stops).
    stall_after: int | None = None
    #: Requests answered normally before every later one drips: one byte of the whole answer (status line
    #: and headers too when ``drip_headers``) every ``drip_every_s`` seconds.
    drip_after: int | None = None
    drip_every_s: float = 0.5
    drip_headers: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gets(self, path_part: str = "") -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == "GET" and path_part in r[1]]


class _Handler(BaseHTTPRequestHandler):
    state: FileServer  # set per server class

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        state = self.state
        path = self.path.split("?", 1)[0]
        with state.lock:
            number = len(state.requests)
            state.requests.append((self.command, path, self.headers.get("Range")))
            state.sent.append(0)
            failure = state.fail_next.pop(0) if state.fail_next and not head else None
        if state.stall_after is not None and number >= state.stall_after:
            state.stop.wait()  # connected, asked, never answered
            self.close_connection = True
            return
        if failure is not None:
            self.send_error(failure)
            return
        if state.drip_after is not None and number >= state.drip_after:
            self._drip(path)
            return
        if path in state.redirects:
            self.send_response(302)
            self.send_header("Location", state.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        file = state.routes.get(path)
        if file is None:
            self.send_error(404, "Not Found")
            return
        size = file.stat().st_size
        start, stop = 0, size  # [start, stop)
        header = None if state.ignore_range else self.headers.get("Range")
        if header:
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
            if not match or match.groups() == ("", ""):
                self.send_error(400, "bad range")
                return
            first, last = match.groups()
            if first:
                start = int(first)
                stop = min(size, int(last) + 1) if last else size
            else:
                start = max(0, size - int(last))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(stop - start))
        self.end_headers()
        if head:
            return
        limit = stop - start
        if not head and path in state.cut_after:
            limit = min(limit, state.cut_after.pop(path))
        with file.open("rb") as handle:
            handle.seek(start)
            remaining = limit
            while remaining > 0:
                chunk = handle.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                remaining -= len(chunk)
                with state.lock:
                    state.sent[number] += len(chunk)
        if limit < stop - start:  # drop the connection mid-transfer
            self.wfile.flush()
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True


    def _drip(self, path: str) -> None:
        """Answer a range request one byte at a time, ``drip_every_s`` apart, until the server stops."""
        state = self.state
        file = state.routes.get(path)
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", (self.headers.get("Range") or "").strip())
        if file is None or not match:
            self.send_error(404 if file is None else 400)
            return
        size = file.stat().st_size
        start, stop = int(match.group(1)), min(size, int(match.group(2)) + 1)
        head = (f"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{stop - 1}/{size}\r\n"
                f"Content-Length: {stop - start}\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        with file.open("rb") as handle:
            handle.seek(start)
            body = handle.read(stop - start)
        if not state.drip_headers:
            self.wfile.write(head)
            self.wfile.flush()
            head = b""
        answer = head + body
        for i in range(len(answer)):
            if state.stop.wait(state.drip_every_s):
                break
            try:
                self.wfile.write(answer[i:i + 1])
                self.wfile.flush()
            except OSError:
                break
        self.close_connection = True


@contextlib.contextmanager
def serve_files(routes: dict[str, Path], redirects: dict[str, str] | None = None) -> Iterator[FileServer]:
    """Serve ``routes`` (URL path -> file) on 127.0.0.1 in a thread, with Range support."""
    state = FileServer(routes=dict(routes), redirects=dict(redirects or {}))
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()  # stalled and dripping answers end
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused: 'offline')."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
