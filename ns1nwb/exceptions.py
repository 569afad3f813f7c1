"""The few exception types ns1nwb raises; the CLI turns each into a one-line message.

Every message names the file and the problem and, where it helps, what to do.
"""

from __future__ import annotations


class Ns1Error(Exception):
    """Base class of every error ns1nwb raises on purpose."""

    #: Exit code of the CLI: 2 for bad input or usage, 1 for internal failures.
    exit_code = 2


class RawFormatError(Ns1Error, ValueError):
    """A raw release file is missing, unreadable or not in the NS1 layout."""


class RawFileNotFoundError(RawFormatError, FileNotFoundError):
    """A file the raw release needs is not there."""


class MetadataError(Ns1Error, ValueError):
    """A user metadata file (YAML) does not satisfy the ns1nwb schema."""


class OutputError(Ns1Error, OSError):
    """The output cannot be written where asked (exists, folder missing, disk full)."""


class NwbContentError(Ns1Error, ValueError):
    """An NWB file does not hold what the ns1nwb reader needs."""


class NetworkError(NwbContentError):
    """A URL cannot be read: no answer within the deadline (``$NS1NWB_REMOTE_TIMEOUT_S``), no connection, an
    HTTP error, or a server without byte ranges."""


class StrictModeError(Ns1Error):
    """A warning raised as an error because ``--strict`` was given."""


class Ns1Warning(UserWarning):
    """Something was tolerated (a skipped file, a fallback); ``--strict`` makes it an error."""


class DownloadError(Ns1Error, OSError):
    """A release file could not be fetched (offline, HTTP error, checksum mismatch)."""


class MissingDependencyError(Ns1Error, ImportError):
    """An optional dependency (an extra such as ``plot``) is not installed."""


class SettingError(Ns1Error, ValueError):
    """An ns1nwb environment setting has an invalid value."""


class OutputComplete(KeyboardInterrupt):
    """Ctrl-C or a termination signal that came while the output was being put in place: it is complete."""

    def __init__(self, paths: list | None = None):
        super().__init__()
        #: The files in place.
        self.paths = list(paths or [])
