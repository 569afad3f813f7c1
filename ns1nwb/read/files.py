"""One NWB file written by ns1nwb, opened with h5py (local path or http(s) URL) and read lazily."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..exceptions import NwbContentError

__all__ = ["NwbFile", "NwbFileHandle", "open_h5", "as_text", "BULK_READ_UNITS"]

#: Asking for more units than this reads the spike arrays whole (see :meth:`NwbFile.spikes`).
BULK_READ_UNITS = 8
#: Unit columns that are per-spike (ragged) or references, not one value per unit.
_NOT_PER_UNIT = {"spike_times", "spike_trial_index", "obs_intervals", "electrodes"}
#: HDF5 chunk cache per dataset: room for a few 1-MB spike chunks, so threads reading
#: neighbouring slices do not decompress a shared boundary chunk twice.
_CHUNK_CACHE_BYTES = 8 * 1024 * 1024


class NwbFileHandle(NamedTuple):
    """One file of a :class:`~ns1nwb.Recording`: where it came from and its open h5py handle (read-only)."""

    source: str
    h5: Any


def as_text(values: np.ndarray) -> np.ndarray:
    """Text columns as an object array of str (h5py gives bytes or str)."""
    if values.dtype.kind in "SO":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)
    return values


class NwbFile:
    """One NWB file written by ns1nwb, read lazily with h5py."""

    def __init__(self, source: str | os.PathLike, h5file: Any, closers: list[Any]):
        self.source = str(source)
        self.h5 = h5file
        self._closers = closers
        try:
            units = h5file["units"]
            trials = h5file["intervals/trials"]
            self.spike_ends = units["spike_times_index"][:].astype(np.int64)
            self._spike_times = units["spike_times"]
            self._spike_trial = units["spike_trial_index"]
            self.trial_start_s = trials["start_time"][:]
            self.trial_stimulus = trials["stimulus_index"][:].astype(np.int64)
            self.trial_repeat = trials["repeat_index"][:].astype(np.int64)
            self.trial_session = as_text(trials["session_id"][:])
            self.trial_length_ms = trials["length_signal_ms"][:]
            self.unit_session = as_text(units["session_id"][:])
        except KeyError as err:
            raise NwbContentError(
                f"{source}: not an ns1nwb file (missing {err.args[0] if err.args else err}); "
                "convert the raw release with `ns1nwb convert`"
            ) from None
        self.n_units = self.spike_ends.size
        self.spike_starts = np.concatenate([[0], self.spike_ends[:-1]])
        self._trial_row: dict[tuple[str, int, int], int] | None = None

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer.close()

    def trial_row(self, session: str, stimulus: int, repeat: int) -> int | None:
        if self._trial_row is None:
            self._trial_row = {
                (s, int(st), int(r)): i
                for i, (s, st, r) in enumerate(zip(self.trial_session, self.trial_stimulus, self.trial_repeat))
            }
        return self._trial_row.get((session, stimulus, repeat))

    def unit_table(self) -> "Any":
        import pandas as pd

        units = self.h5["units"]
        colnames = [c.decode() if isinstance(c, bytes) else str(c) for c in units.attrs["colnames"]]
        data: dict[str, Any] = {}
        for name in colnames:
            if name in _NOT_PER_UNIT or f"{name}_index" in units:
                continue
            values = units[name][:]
            if name == "electrode_group":
                values = np.array([self.h5[ref].name.rsplit("/", 1)[-1] for ref in values], dtype=object)
            data[name] = as_text(values)
        data["n_spikes"] = np.diff(np.concatenate([[0], self.spike_ends]))
        return pd.DataFrame(data)

    def spikes(self, local_units: Sequence[int], whole: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(spike times s, trial rows, bounds) of the asked units, concatenated in the order asked.

        Unit i's spikes are ``[bounds[i]:bounds[i + 1]]``. Consecutive units: one slice of
        the data and of the index; many scattered units: one bulk read (or ``whole``, the
        arrays already read in full); a few: one slice per unit. Trial rows keep the file's
        small integer type (index with them directly).
        """
        local_units = np.asarray(local_units, dtype=np.int64)
        starts, ends = self.spike_starts[local_units], self.spike_ends[local_units]
        bounds = np.concatenate([[0], np.cumsum(ends - starts)])
        if local_units.size > 1 and np.all(np.diff(local_units) == 1):
            first, last = starts[0], ends[-1]
            return self._spike_times[first:last], self._spike_trial[first:last], bounds
        if whole is not None or local_units.size > BULK_READ_UNITS:
            times, trials = whole if whole is not None else self.read_all_spikes()
            times = np.concatenate([times[a:b] for a, b in zip(starts, ends)])
            trials = np.concatenate([trials[a:b] for a, b in zip(starts, ends)])
        else:
            times = np.concatenate([self._spike_times[a:b] for a, b in zip(starts, ends)] or [np.empty(0)])
            trials = np.concatenate([self._spike_trial[a:b] for a, b in zip(starts, ends)] or [np.empty(0, int)])
        return times, trials, bounds

    def read_all_spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """All spike times and trial rows of the file (one bulk read of each)."""
        return self._spike_times[:], self._spike_trial[:]

    def relative_ms(self, times_s: np.ndarray, trial_rows: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """ms after each spike's trial onset; ``overwrite`` reuses ``times_s`` for the result."""
        out = times_s if overwrite else None
        relative = np.subtract(times_s, self.trial_start_s[trial_rows], out=out)
        relative *= 1000.0
        return relative


def open_h5(source: str | os.PathLike) -> tuple[Any, list[Any]]:
    import h5py

    text = str(source)
    if text.startswith(("http://", "https://")):
        try:
            import remfile
        except ImportError:
            raise NwbContentError(f"{text}: reading a URL needs remfile (pip install 'ns1nwb[remote]')") from None
        remote = remfile.File(text)
        handle = h5py.File(remote, "r")
        return handle, [handle, remote]
    path = Path(source)
    if not path.is_file():
        raise NwbContentError(f"{path}: no such NWB file")
    try:
        handle = h5py.File(path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
    except OSError as err:
        raise NwbContentError(f"{path}: not an HDF5/NWB file ({err})") from None
    return handle, [handle]

