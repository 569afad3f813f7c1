"""Opening an ns1nwb file over http(s): remfile's range requests, each with one overall deadline.

remfile alone has no timeouts and retries a failed request 8 times with back-off: a server
that never answers hangs it, one that stalls after the size probe makes every read wait
minutes, and one that drips a byte at a time holds it forever (a read timeout only bounds
the silence between bytes). Here every request (the size probe, then each of remfile's range
reads) goes through one session that gives it a deadline, ``$NS1NWB_REMOTE_TIMEOUT_S``
seconds from its first try (default 60), retries included: a refused or dropped connection,
a silence longer than :data:`READ_TIMEOUT_S` or an HTTP 5xx/429 is tried again, at most
:data:`TRIES` times, while time is left. When the deadline passes, the request's socket is
shut down, whatever the server is doing. Anything that fails for good is one
:class:`~ns1nwb.exceptions.NetworkError` naming the URL and the time spent.

Few requests: files written by ns1nwb hold all their metadata in one block at the start
(ns1nwb/write.py); the first request fetches that block with the file's size, and remfile then
reads in chunks of the same size (1 MiB), so that opening the pooled file and one unit's grid take
a few requests (``benchmarks/bench_remote.py``).
"""

from __future__ import annotations

import importlib.util
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
#: Bytes of each remfile chunk: what measured fewest requests within 10 MB (benchmarks/bench_remote.py).
CHUNK_BYTES = 1 << 20
#: remfile's read-ahead: after a chunk read in order, it asks for more at once, growing by this factor each
#: time (1.7 by default: 4 MB of read-ahead past the trials table here); 1 keeps it at two chunks.
READ_AHEAD_GROWTH = 1.0
#: Largest single range request (remfile joins chunks read in order up to this): one request must be able to
#: arrive within the deadline.
MAX_REQUEST_BYTES = 16 << 20

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


#: The deadline of the request each thread is making (remfile reads in the caller's thread).
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
    included; remfile reads through it."""
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


class _GiveUp(BaseException):
    """Carries a request's NetworkError through remfile, which would retry any Exception 8 times with
    back-off (about 25 s); :class:`_RemoteFile` raises the error itself to h5py."""

    def __init__(self, error: NetworkError):
        super().__init__(str(error))
        self.error = error


def _bounded(send: Any, url: str, headers: Any, limit: float) -> Any:
    """``send(timeout)``'s response within ``limit`` s, tried again on passing trouble; else :class:`_GiveUp`."""
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
    raise _GiveUp(NetworkError(
        f"{url}: no answer within {spent:.1f} s ({what}{tries}; last: {problems[-1] if problems else 'none'}); "
        f"${TIMEOUT_ENV} sets the deadline (now {limit:g} s)"))


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
    """remfile's file, read from the first request's bytes where they reach, with a failed request raised as
    its NetworkError (see :class:`_GiveUp`)."""

    def __init__(self, remote: Any, head: bytes):
        self._remote = remote
        self._head = head

    def read(self, size: int = -1) -> bytes:
        position = self._remote.tell()
        if 0 <= size and position + size <= len(self._head):  # the superblock and the metadata block
            self._remote.seek(position + size)
            return self._head[position:position + size]
        try:
            return self._remote.read(size)
        except _GiveUp as signal:
            raise signal.error from None

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._remote.seek(offset, whence)

    def tell(self) -> int:
        return self._remote.tell()

    def close(self) -> None:
        self._remote.close()


def _first_bytes(url: str, session: Any) -> tuple[int, bytes]:
    """(the file's size in bytes, its first :data:`HEAD_BYTES`) from one range request; a clear error for
    anything else. The first bytes hold the superblock and, in files ns1nwb writes, all the metadata."""
    try:
        response = session.first_bytes(url, HEAD_BYTES)
    except _GiveUp as signal:
        raise signal.error from None
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
        remfile is missing, or the URL does not hold an HDF5 file.
    SettingError
        ``$NS1NWB_REMOTE_TIMEOUT_S`` is not a positive number.
    """
    import h5py

    try:
        import remfile
        if importlib.util.find_spec("requests") is None:  # remfile's transport, used by the probe too
            raise ImportError("requests")
    except ImportError:
        raise NwbContentError(f"{url}: reading a URL needs remfile (pip install 'ns1nwb[remote]')") from None
    session = _session(remote_timeout_s())  # a bad setting is said before anything is asked of the server
    try:
        size, head = _first_bytes(url, session)
        options = dict(_min_chunk_size=CHUNK_BYTES, _max_chunk_size=MAX_REQUEST_BYTES,
                       _chunk_increment_factor=READ_AHEAD_GROWTH)
        try:
            remote = remfile.File(url, _size=size, **options)  # the size is known: no second probe
        except TypeError:  # a remfile without these private arguments
            remote = remfile.File(url)
        remote.session = session
    except BaseException:
        session.close()
        raise
    file = _RemoteFile(remote, head)
    try:
        handle = h5py.File(file, "r")
    except NetworkError:
        file.close()
        session.close()
        raise
    except Exception as err:  # OSError (not HDF5)
        file.close()
        session.close()
        raise NwbContentError(f"{url}: not an HDF5/NWB file, or unreadable over HTTP ({err})") from None
    # Closed last to first: the h5py file, then remfile, then the session's connections.
    return handle, [session, file, handle]
