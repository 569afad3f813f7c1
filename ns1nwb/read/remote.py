"""Opening an ns1nwb file over http(s): range requests, each with one overall deadline, in few round trips.

**Bounded.** Every request (the first, then each range the file's reads need) goes through one requests
session that gives it a deadline, ``$NS1NWB_REMOTE_TIMEOUT_S`` seconds from its first try (default 60), its
tries included: a refused or dropped connection, a silence longer than :data:`READ_TIMEOUT_S` or an HTTP
5xx/429 is tried again, at most :data:`TRIES` times, while time is left. When the deadline passes, the
request's socket is shut down, whatever the server is doing: a read timeout alone bounds only the silence
between two bytes, so a server dripping one byte every 20 s held a read forever. A request that fails for
good is one :class:`~ns1nwb.exceptions.NetworkError` naming the URL and the time spent.

**Few requests.** Files written by ns1nwb hold all their metadata in one block at the start
(ns1nwb/write.py): the first request fetches it with the file's size. Then a small read (a table's column,
an index, a heap of strings) brings its whole 2-MiB window, where the other small objects a call reads
next sit; a large one (a compressed chunk of spikes, a spectrogram) brings only its own bytes; large reads
one after the other (a scan) ask for twice as much ahead each time. Opening the pooled file and one unit's
grid take 6 requests (``benchmarks/bench_remote.py``).

remfile, which read URLs before, fetches in chunks of one size (its default 100 kB: 23 requests for that
grid on the same file; 1 MiB: 7, but the 20 spectrograms then bring most of the sounds with them), and
retries a failed request 8 times with back-off whatever its deadline.
"""

from __future__ import annotations

import math
import os
import re
import socket
import threading
import time
from typing import Any

from ..exceptions import NetworkError, NwbContentError, SettingError

__all__ = ["CONNECT_TIMEOUT_S", "READ_TIMEOUT_S", "TRIES", "TIMEOUT_ENV", "DEFAULT_TIMEOUT_S", "remote_timeout_s",
           "open_url"]

#: The environment variable that sets each request's overall deadline, in seconds.
TIMEOUT_ENV = "NS1NWB_REMOTE_TIMEOUT_S"
#: Each request's overall deadline (its tries included) when ``$NS1NWB_REMOTE_TIMEOUT_S`` is not set.
DEFAULT_TIMEOUT_S = 60.0
#: Seconds to wait for a connection (nothing listening is refused at once; a dropped packet waits this long).
CONNECT_TIMEOUT_S = 5.0
#: Seconds of silence from the server after which a try is given up (and tried again if time is left).
READ_TIMEOUT_S = 20.0
#: Tries of one request at most (a connection error, a silence, HTTP 5xx or 429 is tried again).
TRIES = 3
#: HTTP statuses worth another try: the server's passing trouble or its throttle.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Bytes of the first request: the superblock and, in files ns1nwb writes, the metadata block (ns1nwb/write.py).
HEAD_BYTES = 1 << 20
#: Bytes of each block a file is fetched and kept in.
BLOCK_BYTES = 32 << 10
#: Reads shorter than this are small (metadata, a table's column, an index, a heap of strings)...
SMALL_READ_BYTES = 64 << 10
#: ... and fetch the blocks lacking in their window of this size (aligned): the file's small objects sit
#: together (the trials table's columns, the units'), so one request brings the neighbours a call reads next.
WINDOW_BYTES = 2 << 20
#: Bytes kept at most per open file (the older half is dropped beyond).
CACHE_BYTES = 256 << 20
#: Largest single range request, in blocks (16 MiB): one request must be able to arrive within the deadline.
MAX_REQUEST_BLOCKS = (16 << 20) // BLOCK_BYTES

_CONTENT_RANGE = re.compile(r"bytes\s+\d+-\d+/(\d+)")


def remote_timeout_s() -> float:
    """``$NS1NWB_REMOTE_TIMEOUT_S`` (seconds, a positive number) if set, else :data:`DEFAULT_TIMEOUT_S`.

    Raises
    ------
    SettingError
        The variable is set to something else than a positive finite number.
    """
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise SettingError(f"{TIMEOUT_ENV}={text[:40]!r}: not a positive number of seconds (e.g. 60)")
    return value


# ------------------------------------------------------------------------ a deadline that cuts the socket

class _Deadline:
    """One request's deadline: when it passes, the socket of the connection in use is shut down, which ends
    any wait for the server at once (a read timeout alone would not end a drip of one byte at a time)."""

    def __init__(self, seconds: float):
        self.passed = False
        self._connection: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        _IN_FLIGHT.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._timer.cancel()
        _IN_FLIGHT.deadline = None

    def watch(self, connection: Any) -> None:
        """Called by a connection about to send this request (and after it connects)."""
        with self._lock:
            self._connection = connection
            if self.passed:
                _shut(connection)

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            if self._connection is not None:
                _shut(self._connection)


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


#: The deadline of the request each thread is making (h5py reads in the caller's thread).
_IN_FLIGHT = threading.local()


def _cuttable(connection_class: type) -> type:
    """``connection_class`` (a urllib3 connection) telling the current request's deadline which socket it uses."""

    class Cuttable(connection_class):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            super().connect()
            self._tell_deadline()

        def request(self, *args: Any, **kwargs: Any) -> Any:
            self._tell_deadline()
            return super().request(*args, **kwargs)

        def _tell_deadline(self) -> None:
            deadline = getattr(_IN_FLIGHT, "deadline", None)
            if deadline is not None:
                deadline.watch(self)

    Cuttable.__name__ = Cuttable.__qualname__ = f"Cuttable{connection_class.__name__}"
    return Cuttable


def _session(limit: float) -> Any:
    """A requests session whose every request is bounded (see the module) by ``limit`` seconds, its tries
    included."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    pools = {"http": type("CuttableHTTPConnectionPool", (HTTPConnectionPool,),
                          {"ConnectionCls": _cuttable(HTTPConnection)}),
             "https": type("CuttableHTTPSConnectionPool", (HTTPSConnectionPool,),
                           {"ConnectionCls": _cuttable(HTTPSConnection)})}

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools  # (through a proxy: the read timeout only)

    class BoundedSession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.mount("http://", Adapter())
            self.mount("https://", Adapter())

        def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: D401
            return _bounded(lambda timeout: super(BoundedSession, self).request(
                method, url, *args, timeout=timeout, **kwargs), str(url), kwargs.get("headers"), limit)

        def first_bytes(self, url: str, n_bytes: int) -> Any:
            """The answer to a request for the file's first ``n_bytes``; its body is read (within the
            deadline) only if it is the range asked for (HTTP 206), not a whole file."""
            headers = {"Range": f"bytes=0-{n_bytes - 1}"}

            def send(timeout: tuple[float, float]) -> Any:
                response = super(BoundedSession, self).request("GET", url, headers=headers, stream=True,
                                                               timeout=timeout)
                if response.status_code == 206:
                    response.content  # noqa: B018  (read now, under the deadline)
                return response

            return _bounded(send, url, headers, limit)

    return BoundedSession()


def _bounded(send: Any, url: str, headers: Any, limit: float) -> Any:
    """``send(timeout)``'s response within ``limit`` s, tried again on passing trouble; else a NetworkError."""
    import requests

    start = time.monotonic()
    problems: list[str] = []
    for attempt in range(TRIES):
        remaining = limit - (time.monotonic() - start)
        if remaining <= 0:
            break
        deadline = _Deadline(remaining)
        try:
            with deadline:
                response = send((min(CONNECT_TIMEOUT_S, remaining), min(READ_TIMEOUT_S, remaining)))
        except Exception as err:  # noqa: BLE001  (what a cut socket raises depends on where it was cut)
            if deadline.passed:
                problems.append("no complete answer in time")
                break
            if not isinstance(err, requests.exceptions.RequestException):
                raise
            problems.append(_reason(err))
        else:
            if response.status_code not in _RETRY_STATUSES:
                return response
            problems.append(f"HTTP {response.status_code} {response.reason or ''}".rstrip())
            response.close()
        if attempt + 1 < TRIES:  # a short pause before the next try, within the deadline
            time.sleep(max(0.0, min(0.25 * 2 ** attempt, limit - (time.monotonic() - start))))
    spent = time.monotonic() - start
    what = f"bytes {headers['Range'][6:]}; " if headers and "Range" in headers else ""
    tries = f"{len(problems)} tries" if len(problems) != 1 else "1 try"
    raise NetworkError(
        f"{url}: no answer within {spent:.1f} s ({what}{tries}; last: {problems[-1] if problems else 'none'}); "
        f"${TIMEOUT_ENV} sets the deadline (now {limit:g} s)")


def _reason(err: Exception) -> str:
    import requests

    if isinstance(err, requests.exceptions.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(err, requests.exceptions.ReadTimeout):
        return f"the server was silent for {READ_TIMEOUT_S:g} s"
    if isinstance(err, requests.exceptions.ConnectionError):
        return "cannot connect (nothing answering at that address?) or the connection broke"
    return type(err).__name__


# ------------------------------------------------------------------------------------ the file

class _RemoteFile:
    """A read-only file over http(s) for h5py: blocks of :data:`BLOCK_BYTES` fetched by range requests
    (through the bounded session) and kept.

    A read fetches the blocks it lacks in one request (from the first lacking to the last). A small read
    (under :data:`SMALL_READ_BYTES`) fetches those lacking in its whole :data:`WINDOW_BYTES` window too; a
    large one only its own, and twice as many ahead as the last fetch when it starts where that one ended.
    """

    def __init__(self, url: str, size: int, session: Any, head: bytes):
        self.url, self.size = url, size
        self._session = session
        self._blocks: dict[int, bytes] = {}  # block index -> its bytes, oldest first
        self._position = 0
        self._n_blocks = -(-size // BLOCK_BYTES)
        self._scan_end, self._scan_blocks = -1, 0  # the last large read's fetch: its end and length, in blocks
        self._store(0, head)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self.size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        start = self._position
        stop = self.size if size < 0 else min(self.size, start + size)
        if stop <= start:
            return b""
        first, last = start // BLOCK_BYTES, (stop - 1) // BLOCK_BYTES
        if any(i not in self._blocks for i in range(first, last + 1)):
            small = stop - start < SMALL_READ_BYTES
            wanted = range(first, last + 1)
            if small:  # its window's blocks too
                per_window = WINDOW_BYTES // BLOCK_BYTES
                window = first // per_window * per_window
                wanted = range(window, max(last + 1, window + per_window))
            missing = [i for i in wanted if i not in self._blocks and i < self._n_blocks]
            begin, end = missing[0], missing[-1] + 1
            if not small and begin == self._scan_end:  # large reads one after the other: twice as much ahead
                end = min(self._n_blocks, max(end, begin + min(2 * self._scan_blocks, MAX_REQUEST_BLOCKS)))
            self._fetch(begin, end)
            self._scan_end, self._scan_blocks = (-1, 0) if small else (end, end - begin)
        data = b"".join(self._blocks[i] for i in range(first, last + 1))
        self._position = stop
        if len(self._blocks) > CACHE_BYTES // BLOCK_BYTES:  # drop the older half (a file read whole is rare)
            for index in list(self._blocks)[:len(self._blocks) // 2]:
                del self._blocks[index]
        offset = start - first * BLOCK_BYTES
        return data[offset:offset + stop - start]

    def _fetch(self, begin: int, end: int) -> None:
        """Blocks [begin, end), in requests of at most :data:`MAX_REQUEST_BLOCKS`."""
        for first in range(begin, end, MAX_REQUEST_BLOCKS):
            piece, stop = first * BLOCK_BYTES, min(self.size, min(end, first + MAX_REQUEST_BLOCKS) * BLOCK_BYTES)
            response = self._session.get(self.url, headers={"Range": f"bytes={piece}-{stop - 1}"})
            with response:
                if response.status_code != 206 or len(response.content) != stop - piece:
                    got = f"{len(response.content):,} bytes" if response.status_code in (200, 206) else \
                        f"HTTP {response.status_code} {response.reason or ''}".rstrip()
                    raise NetworkError(f"{self.url}: asked for bytes {piece}-{stop - 1}, got {got}")
                self._store(piece, response.content)

    def _store(self, offset: int, data: bytes) -> None:
        """Keep ``data`` (read at ``offset``, a block's start) as blocks; a last partial block only at the end of
        the file."""
        for start in range(0, len(data), BLOCK_BYTES):
            block = data[start:start + BLOCK_BYTES]
            if len(block) == BLOCK_BYTES or offset + start + len(block) == self.size:
                self._blocks[(offset + start) // BLOCK_BYTES] = block

    def close(self) -> None:
        self._blocks = {}


def _first_bytes(url: str, session: Any) -> tuple[int, bytes]:
    """(the file's size in bytes, its first :data:`HEAD_BYTES`) from one range request; a clear error for
    anything else. The first bytes hold the superblock and, in files ns1nwb writes, all the metadata."""
    response = session.first_bytes(url, HEAD_BYTES)
    with response:
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match:
                size = int(match.group(1))
                head = response.content
                return size, head if len(head) == min(size, HEAD_BYTES) else b""
            raise NetworkError(f"{url}: the server's answer to a range request has no total size "
                               "(Content-Range); ns1nwb streams files by byte ranges")
        if response.status_code == 200:
            raise NetworkError(f"{url}: the server ignores byte-range requests; ns1nwb streams files by byte "
                               "ranges (download the file and open it locally)")
        raise NetworkError(f"{url}: HTTP {response.status_code} {response.reason or ''}".rstrip())


def open_url(url: str) -> tuple[Any, list[Any]]:
    """(open h5py file, things to close in reverse order) for an http(s) URL.

    Raises
    ------
    NetworkError
        The URL does not answer within the deadline, answers an HTTP error or ignores byte ranges.
    NwbContentError
        The URL does not hold an HDF5 file.
    SettingError
        ``$NS1NWB_REMOTE_TIMEOUT_S`` is not a positive number.
    """
    import h5py

    session = _session(remote_timeout_s())  # a bad setting is said before anything is asked of the server
    try:
        size, head = _first_bytes(url, session)
        file = _RemoteFile(url, size, session, head)
        try:
            handle = h5py.File(file, "r")
        except NetworkError:
            raise
        except Exception as err:  # OSError (not HDF5)
            raise NwbContentError(f"{url}: not an HDF5/NWB file, or unreadable over HTTP ({err})") from None
    except BaseException:
        session.close()
        raise
    # Closed last to first: the h5py file, the blocks it read, the session's connections.
    return handle, [session, file, handle]
