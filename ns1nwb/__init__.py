"""ns1nwb: the NS1 ferret auditory-cortex release as NWB, and back to response grids.

Data flow, one package per concern: :mod:`ns1nwb.release` (raw files -> in-memory model) ->
:mod:`ns1nwb.nwb` (model -> pynwb containers) -> :mod:`ns1nwb.write` (files to disk, safely) ->
:mod:`ns1nwb.conversion` (the one conversion; :mod:`ns1nwb.dandi` names DANDI's files) -> :mod:`ns1nwb.cli`;
:mod:`ns1nwb.read` reads the files back.
"""

from ._version import __version__
from .exceptions import (
    DownloadError,
    MetadataError,
    MissingDependencyError,
    Ns1Error,
    Ns1Warning,
    NwbContentError,
    OutputComplete,
    OutputError,
    RawFileNotFoundError,
    RawFormatError,
    SettingError,
    StrictModeError,
    UnsafeArchiveError,
)
from .cochleagram import cochleagram, cochleagram_bands
from .conversion import ConversionResult, convert
from .metrics import noise_ratio, unit_noise_ratio
from .nwb import build_nwbfile
from .read import Recording, open
from .release import RawRelease, read_raw_tree
from .write import write_nwbfile

__all__ = [
    "__version__",
    "read_raw_tree",
    "open",
    "Recording",
    "RawRelease",
    "convert",
    "ConversionResult",
    "build_nwbfile",
    "write_nwbfile",
    "noise_ratio",
    "unit_noise_ratio",
    "cochleagram",
    "cochleagram_bands",
    "Ns1Error",
    "Ns1Warning",
    "RawFormatError",
    "RawFileNotFoundError",
    "MetadataError",
    "OutputError",
    "OutputComplete",
    "NwbContentError",
    "StrictModeError",
    "DownloadError",
    "UnsafeArchiveError",
    "MissingDependencyError",
    "SettingError",
]
