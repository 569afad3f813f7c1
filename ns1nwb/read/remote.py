"""Opening an ns1nwb file over http(s): a quick probe with timeouts, then remfile's range requests.

remfile alone has no timeouts and retries a failed first request with back-off (about
25 s before it gives up on a server where nothing listens; forever on one that never
answers). The probe asks for the file's first bytes once, with connect and read
timeouts, so a missing file, a dead server or a server without byte ranges is one clear
error within seconds; remfile then reads with the probe's size and a session that has
the same timeouts.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from ..exceptions import NwbContentError

__all__ = ["CONNECT_TIMEOUT_S", "READ_TIMEOUT_S", "open_url"]

#: Seconds to wait for a connection (nothing listening is refused at once; a dropped packet waits this long).
CONNECT_TIMEOUT_S = 5.0
#: Seconds to wait for the server between bytes of an answer.
READ_TIMEOUT_S = 30.0

_CONTENT_RANGE = re.compile(r"bytes\s+\d+-\d+/(\d+)")


def _session() -> Any:
    """A requests session whose every request has the connect/read timeouts (remfile passes none)."""
    import requests

    class TimeoutSession(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D401
            kwargs.setdefault("timeout", (CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
            return super().request(*args, **kwargs)

    return TimeoutSession()


def _probe_size(url: str, session: Any) -> int:
    """The file's size in bytes, from a one-range request; a clear error for anything else."""
    import requests

    try:
        response = session.get(url, headers={"Range": "bytes=0-7"}, stream=True)
    except requests.exceptions.Timeout:
        raise NwbContentError(f"{url}: no answer within {CONNECT_TIMEOUT_S:g} s (connect) / "
                              f"{READ_TIMEOUT_S:g} s (read)") from None
    except requests.exceptions.RequestException as err:
        reason = type(err).__name__
        if isinstance(err, requests.exceptions.ConnectionError):
            reason = "cannot connect (nothing answering at that address?)"
        raise NwbContentError(f"{url}: {reason}") from None
    with response:
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match:
                return int(match.group(1))
            raise NwbContentError(f"{url}: the server's answer to a range request has no total size "
                                  "(Content-Range); ns1nwb streams files by byte ranges")
        if response.status_code == 200:
            raise NwbContentError(f"{url}: the server ignores byte-range requests; ns1nwb streams files by byte "
                                  "ranges (download the file and open it locally)")
        raise NwbContentError(f"{url}: HTTP {response.status_code} {response.reason or ''}".rstrip())


def open_url(url: str) -> tuple[Any, list[Any]]:
    """(open h5py file, things to close in reverse order) for an http(s) URL.

    Raises
    ------
    NwbContentError
        remfile is missing, the URL does not answer within the timeouts, answers an HTTP error,
        or does not hold an HDF5 file.
    """
    import h5py

    try:
        import remfile
        if importlib.util.find_spec("requests") is None:  # remfile's transport, used by the probe too
            raise ImportError("requests")
    except ImportError:
        raise NwbContentError(f"{url}: reading a URL needs remfile (pip install 'ns1nwb[remote]')") from None
    session = _session()
    try:
        size = _probe_size(url, session)
        try:
            remote = remfile.File(url, _size=size)  # the size is known: no second probe without timeouts
        except TypeError:  # a remfile without the private _size argument
            remote = remfile.File(url)
        if hasattr(remote, "session"):
            remote.session = session
    except BaseException:
        session.close()
        raise
    try:
        handle = h5py.File(remote, "r")
    except Exception as err:  # OSError (not HDF5), or remfile's own error from a read that failed
        remote.close()
        session.close()
        raise NwbContentError(f"{url}: not an HDF5/NWB file, or unreadable over HTTP ({err})") from None
    # Closed last to first: the h5py file, then remfile, then the session's connections.
    return handle, [session, remote, handle]
