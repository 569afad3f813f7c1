"""Every raw value checked in one place, against what the release can hold, before any work is done.

Each check raises :class:`~ns1nwb.exceptions.RawFormatError` with one line naming the file, the field and
the value. The bounds are generous (several times what the release holds) but finite: a value outside them
would corrupt other units or the clock silently (a NaN sweep length shifts every later block, a spike at
1e300 ms breaks float64 times, a year-2999 timestamp makes a 987-year block).

What the release holds (``ns1_raw_format.md``): metadata ``NrOfElectrodes`` 8/16/32, ``ElectrodeNumber``
1..32, ``depth`` -200..1500 um, ``NoiseRatio`` 3.3..39.7, ``singleT`` Yes/Maybe/No, ``singleN`` 0-2;
``stim_params`` small integers (``Level`` -55..-13, ``NominalLevel`` 75..82); sweeps of 5200-5242 ms;
spike times 0.6..5241 ms, never after the sweep's end; presentations 5.3-7.9 s apart in blocks of
41-60 min.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..constants import N_BANDS, N_NATURAL, RESPONSE_WINDOW_MS, WAV_HEADER_RATE_HZ, WAV_TRUE_RATE_HZ
from ..exceptions import RawFormatError

__all__ = [
    "MAX_SWEEP_MS",
    "MAX_BLOCK_HOURS",
    "SPIKE_AFTER_SWEEP_MS",
    "CLUSTER_QUALITY_CODES",
    "check_metadata_row",
    "check_unit_path",
    "check_cluster_quality",
    "check_stim_params",
    "check_sweep_ms",
    "check_set_spikes",
    "check_timestamps",
    "check_wav",
    "check_spectrogram",
    "timestamp_problem",
    "timestamp_time",
]

#: Longest sweep accepted (ms): the release's are 5200-5242 ms.
MAX_SWEEP_MS = 60_000.0
#: How far after its recorded sweep a spike may lie (an integer re-export rounds the last spikes up); the
#: trial then ends at that spike. The release has none after its sweep.
SPIKE_AFTER_SWEEP_MS = 1000.0
#: Longest recording block accepted: the release's last 41-60 min.
MAX_BLOCK_HOURS = 24.0
#: The codes clusterquality.mat holds (inferred: 1 single unit, 2 probable single unit, 3 multi-unit).
CLUSTER_QUALITY_CODES = (1, 2, 3)
#: Shortest wav accepted: it must cover the response window.
_MIN_WAV_SAMPLES = int(np.ceil(RESPONSE_WINDOW_MS / 1000.0 * WAV_TRUE_RATE_HZ))

# (lowest, highest, must be a whole number) of each metadata field the writer interprets.
_METADATA_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "NrOfElectrodes": (1, 64, True),
    "ElectrodeNumber": (1, 64, True),
    "depth": (-5000, 5000, False),
    "NoiseRatio": (0, 1e6, False),
    "singleN": (0, 2, True),
}
_SINGLE_LABELS = ("Yes", "Maybe", "No")
# (lowest, highest, must be a whole number) of each stim_params field.
_STIM_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "Source": (0, 255, True),
    "Mode": (-1e6, 1e6, True),
    "BF": (0, 1e6, False),
    "Token": (0, 255, True),
    "Set": (0, 1e4, True),
    "StimID": (0, 1e4, True),
    "NominalLevel": (0, 200, False),
    "Level": (-200, 200, False),
}
#: A presentation's wall-clock onset as the spike files store it: ``YYYYMMDD-HHMMSSmmm`` (ASCII digits only).
_TIMESTAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(\d{3})$", re.ASCII)


def _number(value: Any) -> float | None:
    """``value`` as a float when it is one real number (bool excluded), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def _check_bounded(where: str, name: str, value: Any, bounds: tuple[float, float, bool], what: str) -> None:
    low, high, whole = bounds
    number = _number(value)
    if number is None or not math.isfinite(number):
        raise RawFormatError(f"{where}: {what} {name} is {value!r}; expected a finite number")
    if whole and not number.is_integer():
        raise RawFormatError(f"{where}: {what} {name} is {value!r}; expected a whole number")
    if not low <= number <= high:
        raise RawFormatError(f"{where}: {what} {name} is {value!r}, outside {low:g}..{high:g}")


def check_metadata_row(meta_path: Path, index: int, row: dict[str, Any]) -> None:
    """The fields of one metadata row that the writer interprets: numbers in range, a known label."""
    where = f"{meta_path}: unit {index}"
    for name, bounds in _METADATA_BOUNDS.items():
        if name in row:
            _check_bounded(where, name, row[name], bounds, "field")
    electrodes, site = _number(row.get("NrOfElectrodes")), _number(row.get("ElectrodeNumber"))
    if electrodes is not None and site is not None and site > electrodes:
        raise RawFormatError(f"{where}: field ElectrodeNumber is {row['ElectrodeNumber']!r}, more than the probe's "
                             f"NrOfElectrodes ({row['NrOfElectrodes']!r})")
    if "singleT" in row and row["singleT"] not in _SINGLE_LABELS:
        raise RawFormatError(f"{where}: field singleT is {row['singleT']!r}; expected one of {', '.join(_SINGLE_LABELS)}")


def check_unit_path(meta_path: Path, index: int, rel_path: str) -> str | None:
    """A metadata path has ``/`` separators, as in the release. Returns what a path that is not
    ``<experiment>/<penetration>/<file>`` (read all the same, as the seed reads any path) lacks, else None."""
    where = f"{meta_path}: unit {index} path {rel_path!r}"
    if "\\" in rel_path:
        raise RawFormatError(f"{where} uses '\\' separators; the release writes '/'")
    if len(PurePosixPath(rel_path).parts) < 3:
        return (f"{where} is not <experiment folder>/<penetration folder>/<spike file> under spikesandwav/: "
                "its ferret and probe are 'unknown' (describe that subject under subjects: unknown in --metadata)")
    return None


def check_cluster_quality(path: Path, value: Any, highest_cluster: int) -> np.ndarray:
    """The ``clusterquality`` variable of ``path``: a vector of codes 1-3, one per cluster file of its folder
    (``highest_cluster`` the highest NN of its ``cluster.NN`` files). Returns the codes as int64."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf" or value.ndim > 2 or \
            (value.ndim == 2 and min(value.shape) > 1):
        raise RawFormatError(f"{path}: no 'clusterquality' vector of numbers (found "
                             f"{getattr(value, 'dtype', type(value).__name__)} {getattr(value, 'shape', '')})")
    codes = value.ravel().astype(np.float64)
    bad = [c for c in codes.tolist() if c not in CLUSTER_QUALITY_CODES]
    if bad:
        raise RawFormatError(f"{path}: clusterquality holds {bad[0]:g}; expected codes "
                             f"{', '.join(map(str, CLUSTER_QUALITY_CODES))}")
    if highest_cluster > codes.size:
        raise RawFormatError(f"{path}: {codes.size} codes, but the folder holds cluster.{highest_cluster:02d}; "
                             "one code per cluster file is needed")
    return codes.astype(np.int64)


def check_stim_params(spike_file: Path, position: int, params: dict[str, Any]) -> None:
    """Each ``stim_params`` field the writer stores: one finite number in range (whole where it counts)."""
    for name, bounds in _STIM_BOUNDS.items():
        if name in params:
            _check_bounded(f"{spike_file}: set {position + 1}", name, params[name], bounds, "stim_params")


def check_sweep_ms(spike_file: Path, position: int, length_ms: Any) -> None:
    """``length_signal_ms``: a finite, positive sweep of at most :data:`MAX_SWEEP_MS`."""
    number = _number(length_ms)
    if number is None or not math.isfinite(number) or not 0 < number <= MAX_SWEEP_MS:
        raise RawFormatError(f"{spike_file}: set {position + 1} length_signal_ms is {length_ms!r}; expected a "
                             f"recorded sweep of 0..{MAX_SWEEP_MS:g} ms")


def check_set_spikes(spike_file: Path, position: int, times_ms: np.ndarray, sweep_ms: float | None) -> None:
    """Spike times of one set: finite, not negative, and not long after the recorded sweep's end."""
    if not times_ms.size:
        return
    if not np.isfinite(times_ms).all():
        raise RawFormatError(f"{spike_file}: set {position + 1} spike times contain NaN or infinite values; "
                             "the file is corrupt")
    lowest, highest = float(times_ms.min()), float(times_ms.max())
    if lowest < 0:
        raise RawFormatError(f"{spike_file}: set {position + 1} has {int((times_ms < 0).sum())} negative spike times "
                             f"(min {lowest:.3f} ms); NS1 times are ms after sound onset")
    if sweep_ms is not None and highest > sweep_ms + SPIKE_AFTER_SWEEP_MS:
        raise RawFormatError(f"{spike_file}: set {position + 1} has a spike at {highest:g} ms, more than "
                             f"{SPIKE_AFTER_SWEEP_MS:g} ms after its recorded sweep of {sweep_ms:g} ms")
    if highest > MAX_SWEEP_MS:
        raise RawFormatError(f"{spike_file}: set {position + 1} has a spike at {highest:g} ms, after the longest "
                             f"plausible sweep ({MAX_SWEEP_MS:g} ms)")


def check_timestamps(spike_file: Path, stamps: list[str | None]) -> None:
    """The timestamps of a file's presentations: each a valid ``YYYYMMDD-HHMMSSmmm`` time, for every
    presentation or for none (the synthetic clock)."""
    missing = sum(stamp is None for stamp in stamps)
    if 0 < missing < len(stamps):
        raise RawFormatError(f"{spike_file}: {missing} of {len(stamps)} presentations have no timestamp; "
                             "a file needs one for every presentation (or none, for the synthetic clock)")
    for stamp in stamps:
        problem = timestamp_problem(stamp) if stamp is not None else None
        if problem:
            raise RawFormatError(f"{spike_file}: timestamp {stamp!r} {problem}")


def check_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """A natural sound's wav: the release's header rate, long enough for the response window, finite samples
    (a NaN would make its spectrogram NaN everywhere)."""
    if rate != WAV_HEADER_RATE_HZ:
        raise RawFormatError(f"{path}: sample rate {rate} Hz, expected {WAV_HEADER_RATE_HZ} (true rate "
                             f"{WAV_TRUE_RATE_HZ}); this is not the released file")
    if samples.shape[0] < _MIN_WAV_SAMPLES:
        raise RawFormatError(f"{path}: {samples.shape[0]} samples, shorter than the {RESPONSE_WINDOW_MS}-ms response "
                             f"window ({_MIN_WAV_SAMPLES} samples); the file is truncated")
    finite = np.isfinite(samples)
    if not finite.all():
        # (samples, channels): the first bad sample's index in time and its value as a plain number.
        sample, channel = (int(i[0]) for i in np.nonzero(~finite))
        where = f" (channel {channel + 1})" if samples.ndim == 2 and samples.shape[1] > 1 else ""
        raise RawFormatError(f"{path}: sample {sample}{where} is {float(samples[sample, channel])}; "
                             f"{int((~finite).sum())} NaN or infinite samples, the file is corrupt")


def check_spectrogram(path: Path, x_nfht: Any) -> np.ndarray:
    """``X_nfht`` of ``test_data_5ms.mat``: (20 sounds, 34 bands, 1, 999 bins), finite. Returns it as float64."""
    expected = (N_NATURAL, N_BANDS, 1, 999)
    if not isinstance(x_nfht, np.ndarray) or x_nfht.shape != expected:
        raise RawFormatError(f"{path}: X_nfht has shape {getattr(x_nfht, 'shape', None)}, expected {expected}; "
                             "remove or replace the file")
    values = np.asarray(x_nfht, dtype=np.float64)
    if not np.isfinite(values).all():
        raise RawFormatError(f"{path}: X_nfht contains NaN or infinite values")
    return values


@functools.lru_cache(maxsize=1 << 16)  # every unit of a block repeats the block's timestamps
def timestamp_problem(stamp: str) -> str | None:
    """Why ``stamp`` is not a valid ``YYYYMMDD-HHMMSSmmm`` time, or None."""
    if not _TIMESTAMP.match(stamp):
        return "is not 'YYYYMMDD-HHMMSSmmm'"
    try:
        timestamp_time(stamp)
    except ValueError as err:
        return f"is not a valid date and time ({err})"
    return None


def timestamp_time(stamp: str) -> datetime:
    """The naive local date and time a ``YYYYMMDD-HHMMSSmmm`` timestamp says (ValueError if it says none)."""
    match = _TIMESTAMP.match(stamp)
    if not match:
        raise ValueError(f"{stamp!r} is not 'YYYYMMDD-HHMMSSmmm'")
    year, month, day, hour, minute, second, ms = (int(g) for g in match.groups())
    return datetime(year, month, day, hour, minute, second, ms * 1000)
