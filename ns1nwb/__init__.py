"""ns1nwb: the NS1 ferret auditory-cortex release as NWB, and back to response grids."""

from ._version import __version__
from .exceptions import (
    DownloadError,
    MetadataError,
    MissingDependencyError,
    Ns1Error,
    Ns1Warning,
    NwbContentError,
    OutputError,
    RawFileNotFoundError,
    RawFormatError,
    SettingError,
    StrictModeError,
    UnsafeArchiveError,
)
from .raw import RawRelease, read_raw_tree
from .reader import Recording, open

__all__ = [
    "__version__",
    "read_raw_tree",
    "open",
    "Recording",
    "RawRelease",
    "Ns1Error",
    "Ns1Warning",
    "RawFormatError",
    "RawFileNotFoundError",
    "MetadataError",
    "OutputError",
    "NwbContentError",
    "StrictModeError",
    "DownloadError",
    "UnsafeArchiveError",
    "MissingDependencyError",
    "SettingError",
]
