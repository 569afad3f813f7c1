"""ns1nwb: the NS1 ferret auditory-cortex release as NWB, and back to response grids.

Data flow, one package per concern: :mod:`ns1nwb.release` (raw files -> in-memory model) ->
:mod:`ns1nwb.nwb` (model -> pynwb containers) -> :mod:`ns1nwb.write` (files to disk, safely) ->
:mod:`ns1nwb.conversion` (the one conversion; :mod:`ns1nwb.dandi` names DANDI's files) -> :mod:`ns1nwb.cli`;
:mod:`ns1nwb.read` reads the files back.

The public names below are imported on first use (PEP 562): ``import ns1nwb`` then building a grid
loads the reader alone, not the writer's pynwb, hdmf, pandas and scipy.
"""

from importlib import import_module
from typing import Any

from ._version import __version__

# Imported now, not on first use: a function named like its module would be replaced by the module as soon
# as anything imported ns1nwb.cochleagram (numpy only, which a grid needs anyway).
from .cochleagram import cochleagram, cochleagram_bands
from .exceptions import (
    DownloadError,
    MetadataError,
    MissingDependencyError,
    NetworkError,
    Ns1Error,
    Ns1Warning,
    NwbContentError,
    OutputComplete,
    OutputError,
    RawFileNotFoundError,
    RawFormatError,
    SettingError,
    StrictModeError,
)

#: Public name -> the module that defines it.
_HOMES = {
    "open": ".read",
    "Recording": ".read",
    "read_raw_tree": ".release",
    "RawRelease": ".release",
    "convert": ".conversion",
    "ConversionResult": ".conversion",
    "build_nwbfile": ".nwb",
    "write_nwbfile": ".write",
    "noise_ratio": ".metrics",
    "unit_noise_ratio": ".metrics",
}

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
    "NetworkError",
    "StrictModeError",
    "DownloadError",
    "MissingDependencyError",
    "SettingError",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'ns1nwb' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name], __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
