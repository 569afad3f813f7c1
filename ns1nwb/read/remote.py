"""Opening an ns1nwb file over http(s): fsspec's HTTP file and block cache, each request with one deadline.

**Few requests.** The first request asks for the file's first block (:data:`BLOCK_BYTES`) and learns the size
from the answer's ``Content-Range``; that block holds the superblock and, in files ns1nwb writes, all the HDF5
metadata (ns1nwb/write.py keeps it in the first MiB). Small reads (tables' columns, indexes) then go through
fsspec's ``blockcache``, which fetches each block they touch once; large ones (:data:`LARGE_READ_BYTES`, a
compressed chunk) ask for their own bytes, and twice as much ahead when they go on where the last one was.
On the pooled real file the open takes 5 requests, plus one unit's grid 6 (8.7 MB), and a per-session open 3.

**Bounded.** Every request has one deadline, ``$NS1NWB_REMOTE_TIMEOUT_S`` seconds from its first try (default
60), its tries included: aiohttp's ``ClientTimeout(total=...)`` ends a try when the time left is spent, however
slowly the server drips. A refused or broken connection, a silence longer than :data:`READ_TIMEOUT_S`, or HTTP
5xx/429 is tried again, at most :data:`TRIES` times, while time is left (fsspec has no retry of its own). A
request that fails for good is one :class:`~ns1nwb.exceptions.NetworkError` naming the URL and the time spent.

**Redirects.** The following requests go to where the first one's redirects ended (DANDI's ``/download/`` URL
answers with a redirect to S3). A 403 from there (an expired presigned URL) sends them back to the URL given,
once.

Why fsspec, and what is added to it (``benchmarks/bench_remote.py``, pooled file, open + one unit's grid; goal
<= 8 requests and <= 10 MB): bare h5py + remfile took 23 requests. Plain ``fsspec.open`` with a block cache (a
HEAD, then one request per block) took 10 requests with 1-MiB blocks and 10.1 MB with 2-MiB ones, and the 20
spectrograms brought the sounds around them (deepSTRF's lists: 25.8 MB); the first block from the size
request and large reads past the cache make it 6 requests and 8.7 MB; the scan's read-ahead takes every unit's
grid from 33 requests to 10 (4.1 s to 1.7 s at 100 ms a request). The range reader this replaced (requests
and a timer that cut the socket) took 7 requests and 8.8 MB, with 1.5 times this code.
"""

from __future__ import annotations

import gc
import math
import os
import time
from typing import Any

from ..exceptions import NetworkError, NwbContentError, SettingError

__all__ = ["CONNECT_TIMEOUT_S", "READ_TIMEOUT_S", "TRIES", "TIMEOUT_ENV", "DEFAULT_TIMEOUT_S", "BLOCK_BYTES",
           "remote_timeout_s", "open_url"]

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
#: Bytes of each block fetched and kept: the first holds the 1-MiB metadata block; see the module for the choice.
BLOCK_BYTES = 2 << 20
#: Reads of this many bytes or more (a compressed chunk) ask for their own bytes only, past the block cache.
LARGE_READ_BYTES = 64 << 10
#: The most a scan asks for ahead in one request (one request must be able to arrive within the deadline).
MAX_AHEAD_BYTES = 16 << 20
#: Blocks kept at most per open file (about 256 MB; fsspec drops the least recently read).
MAX_BLOCKS = 200


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


# ------------------------------------------------------------------------ one request: deadline and tries


class _TargetRefused(Exception):
    """The redirect's target answered 403: the next try goes to the URL given."""


def _bounded(send: Any, url: str, limit: float, what: str = "") -> Any:
    """``send(timeout)`` (an aiohttp ``ClientTimeout`` for the time left) within ``limit`` s, tried again on
    passing trouble; else a NetworkError. ``what`` (e.g. ``"bytes 0-9; "``) goes into the message."""
    import aiohttp

    start = time.monotonic()
    problems: list[str] = []
    for attempt in range(TRIES):
        remaining = limit - (time.monotonic() - start)
        if remaining <= 0:
            break
        timeout = aiohttp.ClientTimeout(total=remaining, sock_connect=min(CONNECT_TIMEOUT_S, remaining),
                                        sock_read=min(READ_TIMEOUT_S, remaining))
        try:
            return send(timeout)
        except Exception as err:  # noqa: BLE001  (sorted by _problem; anything else goes on as it is)
            problem, again = _problem(err)
            if problem is None:
                raise
            if not again:
                raise NetworkError(f"{url}: {problem}") from None
            problems.append(problem)
        if attempt + 1 < TRIES:  # a short pause before the next try, within the deadline
            time.sleep(max(0.0, min(0.25 * 2 ** attempt, limit - (time.monotonic() - start))))
    spent = time.monotonic() - start
    tries = f"{len(problems)} tries" if len(problems) != 1 else "1 try"
    raise NetworkError(
        f"{url}: no answer within {spent:.1f} s ({what}{tries}; last: {problems[-1] if problems else 'none'}); "
        f"${TIMEOUT_ENV} sets the deadline (now {limit:g} s)")


def _problem(err: BaseException) -> tuple[str | None, bool]:
    """(what went wrong in a few words, whether to try again); (None, False) for what is no network trouble."""
    import aiohttp
    from fsspec.exceptions import FSTimeoutError

    if isinstance(err, FSTimeoutError) and err.__cause__ is not None:  # fsspec's wrapper of aiohttp's timeouts
        err = err.__cause__
    if isinstance(err, _TargetRefused):
        return "HTTP 403 Forbidden from the redirect's target", True
    if isinstance(err, aiohttp.ClientResponseError):
        return f"HTTP {err.status} {err.message or ''}".rstrip(), err.status in _RETRY_STATUSES
    if isinstance(err, getattr(aiohttp, "ConnectionTimeoutError", ())):
        return f"no connection within {CONNECT_TIMEOUT_S:g} s", True
    if isinstance(err, aiohttp.ServerTimeoutError):
        return f"the server was silent for {READ_TIMEOUT_S:g} s", True
    if isinstance(err, TimeoutError):  # the total: no time is left for another try
        return "no complete answer in time", True
    if isinstance(err, aiohttp.ClientError):
        return "cannot connect (nothing answering at that address?) or the connection broke", True
    return None, False


# ------------------------------------------------------------------------------------ the file


async def _first_block(session: Any, url: str, timeout: Any) -> tuple[int, str, bytes]:
    """(the file's size, the URL its redirects ended at, its first :data:`BLOCK_BYTES`) from one request."""
    async with session.get(url, headers={"Range": f"bytes=0-{BLOCK_BYTES - 1}"}, timeout=timeout) as response:
        response.raise_for_status()
        if response.status != 206:
            raise NetworkError(f"{url}: the server ignores byte-range requests; ns1nwb streams files by byte "
                               "ranges (download the file and open it locally)")
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        if not total.isdigit():
            raise NetworkError(f"{url}: the server's answer to a range request has no total size "
                               "(Content-Range); ns1nwb streams files by byte ranges")
        return int(total), str(response.url), await response.read()


def _open_file(url: str, limit: float) -> tuple[Any, "_Session"]:
    """(a read-only file-like object for ``url``, the connections to close after it)."""
    import aiohttp
    from fsspec.asyn import sync
    from fsspec.implementations.http import HTTPFile, HTTPFileSystem

    class BoundedFile(HTTPFile):
        """fsspec's HTTP file whose every request is bounded (see the module), the first block given."""

        def __init__(self, *args: Any, first_block: bytes, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.first_block = first_block
            self.last_large = (0, b"")  # the last large read's fetch: (offset, bytes)

        def read(self, length: int = -1) -> bytes:
            # h5py holds its global lock while it calls this, and fsspec's requests run on its IO thread: a
            # garbage collection started there that frees an h5py object would wait for that lock forever
            # (h5py's docs, "Python file-like objects"). So no automatic collection while a read waits.
            collecting = gc.isenabled()
            gc.disable()
            try:
                return super().read(length) if length < LARGE_READ_BYTES else self._read_large(length)
            finally:
                if collecting:
                    gc.enable()

        def _read_large(self, length: int) -> bytes:
            """A compressed chunk (spikes, a spectrogram): its own bytes, not the blocks around it (the sounds
            next to a spectrogram; h5py's chunk cache keeps it); when it starts within the last large fetch (a
            scan: every unit's spikes), twice as much ahead as that fetch."""
            start, stop = self.loc, min(self.size, self.loc + length)
            offset, data = self.last_large
            if start < stop and not offset <= start <= stop <= offset + len(data):
                if offset <= start <= offset + len(data):
                    ahead = min(self.size, max(stop, offset + len(data) + min(2 * len(data), MAX_AHEAD_BYTES)))
                    data = data[start - offset:] + self._fetch_range(offset + len(data), ahead)
                else:
                    data = self._fetch_range(start, stop)
                offset, self.last_large = start, (start, data)
            self.loc = max(start, stop)
            return data[start - offset:stop - offset]

        def _fetch_range(self, start: int, end: int) -> bytes:
            expected = min(end, self.size) - start
            if start == 0 and expected <= len(self.first_block):
                return self.first_block[:expected]

            def send(timeout: Any) -> bytes:
                self.kwargs["timeout"] = timeout  # fsspec passes its kwargs to aiohttp's request
                try:
                    return HTTPFile._fetch_range(self, start, end)
                except aiohttp.ClientResponseError as err:
                    if err.status != 403 or self.url == url:
                        raise
                    self.url = url  # an expired presigned URL: back to the one given (it redirects anew), once
                    raise _TargetRefused from err
                except ValueError as err:  # fsspec: a whole file in answer to a range
                    raise NetworkError(f"{url}: asked for bytes {start}-{end - 1}: {err}") from None

            data = _bounded(send, url, limit, f"bytes {start}-{end - 1}; ")
            if len(data) != expected:
                raise NetworkError(f"{url}: asked for bytes {start}-{end - 1}, got {len(data):,} bytes")
            return data

    fs = HTTPFileSystem(skip_instance_cache=True)
    connections = _Session(fs.loop, sync(fs.loop, fs.set_session))
    try:
        size, final_url, first = _bounded(
            lambda timeout: sync(fs.loop, _first_block, connections.session, url, timeout), url, limit)
        file = BoundedFile(fs, final_url, session=connections.session, size=size, block_size=BLOCK_BYTES,
                           cache_type="blockcache", cache_options={"maxblocks": MAX_BLOCKS}, loop=fs.loop,
                           first_block=first)
    except BaseException:
        connections.close()
        raise
    return file, connections


class _Session:
    """The aiohttp session (its connections) of one opened URL."""

    def __init__(self, loop: Any, session: Any):
        self.loop, self.session = loop, session

    def close(self) -> None:
        from fsspec.implementations.http import HTTPFileSystem

        HTTPFileSystem.close_session(self.loop, self.session)


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

    file, connections = _open_file(url, remote_timeout_s())  # a bad setting is said before any request
    try:
        handle = h5py.File(file, "r")
    except BaseException as err:
        file.close()
        connections.close()
        if isinstance(err, Exception) and not isinstance(err, NetworkError):  # OSError: not HDF5
            raise NwbContentError(f"{url}: not an HDF5/NWB file, or unreadable over HTTP ({err})") from None
        raise
    # Closed last to first: the h5py file, the blocks it read, the connections.
    return handle, [connections, file, handle]
