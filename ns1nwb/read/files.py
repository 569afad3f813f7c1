"""Opening what :func:`ns1nwb.open` takes (a file, a folder of per-session files, a URL): one :class:`NwbFile`
per file, opened with h5py, checked, and read lazily.

A folder must hold each recording once: two copies of one file, or the pooled file beside
the per-session files it was converted with, would give every unit twice (and doubled
counts in ``ns1nwb info``), so either is an error naming both files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import numpy as np

from ..exceptions import NwbContentError

__all__ = ["NwbFile", "NwbFileHandle", "open_files", "open_h5", "check_distinct", "as_text", "is_url"]

#: Unit columns that are per-spike (ragged) or references, not one value per unit.
_NOT_PER_UNIT = {"spike_times", "spike_trial", "obs_intervals", "electrodes"}
#: What h5py and numpy raise on a damaged or foreign file; turned into one NwbContentError naming the file.
_READ_ERRORS = (KeyError, ValueError, TypeError, IndexError, OSError, RuntimeError, AttributeError)
#: HDF5 chunk cache per dataset: room for a few 1-MB spike chunks, so that reading the spike arrays
#: unit by unit does not inflate a chunk two units share twice.
_CHUNK_CACHE_BYTES = 8 * 1024 * 1024


def is_url(text: str | os.PathLike) -> bool:
    """Whether ``text`` is an http(s) URL (the scheme in any case: ``HTTP://`` is one too)."""
    return str(text)[:8].lower().startswith(("http://", "https://"))


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
    """One NWB file written by ns1nwb, read lazily with h5py.

    Opening checks what the reader relies on (the units, trials and stimuli tables, ragged
    columns whose lengths agree) and reads the small per-unit and per-trial arrays; anything
    else is a :class:`NwbContentError` naming the file.
    """

    def __init__(self, source: str | os.PathLike, h5file: Any, closers: list[Any]):
        self.source = str(source)
        self.h5 = h5file
        self._closers = closers
        with self.readable():
            units = self._table("units")
            trials = self._table("intervals/trials")
            stimuli = self._table("processing/stimuli/stimuli")
            self.spike_ends = self._column(units, "spike_times_index")[:].astype(np.int64)
            self._spike_times = self._column(units, "spike_times")
            self._spike_trial = self._column(units, "spike_trial")
            trial_ends = self._column(units, "spike_trial_index")[:]
            self.trial_start_s = self._column(trials, "start_time")[:]
            self.trial_stop_s = trials["stop_time"][:] if "stop_time" in trials else self.trial_start_s
            self.trial_stimulus = self._column(trials, "stimulus_index")[:].astype(np.int64)
            self.trial_repeat = self._column(trials, "repeat_index")[:].astype(np.int64)
            self.trial_session = as_text(self._column(trials, "session_id")[:])
            self.trial_length_ms = self._column(trials, "length_signal_ms")[:]
            self.unit_session = as_text(self._column(units, "session_id")[:])
            self.n_stimuli = int(self._column(stimuli, "id").shape[0])
            self._column(stimuli, "n_repeats")
            #: Each unit's metadata row (-1: not in the metadata), or None when the file has no such column.
            self.metadata_row = units["metadata_row"][:].astype(np.int64) if "metadata_row" in units else None
            identifier = h5file["identifier"][()] if "identifier" in h5file else b""
            self.identifier = identifier.decode() if isinstance(identifier, bytes) else str(identifier)
            self._check_shapes(trial_ends)
        self.n_units = self.spike_ends.size
        self.spike_starts = np.concatenate([[0], self.spike_ends[:-1]])
        self._trial_row: dict[tuple[str, int, int], int] | None = None
        self._observed: dict[int, np.ndarray] = {}
        self._rows_by_session: dict[str, np.ndarray] | None = None
        # (intervals, index); False: the file has none; None: not read yet.
        self._obs_intervals: tuple[Any, np.ndarray] | bool | None = None

    @contextlib.contextmanager
    def readable(self) -> Iterator[None]:
        """Turn what h5py and numpy raise on a damaged or foreign file into one NwbContentError naming it."""
        try:
            yield
        except NwbContentError:
            raise
        except _READ_ERRORS as err:
            detail = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise NwbContentError(f"{self.source}: not a readable ns1nwb file ({detail}); "
                                  "convert the raw release with `ns1nwb convert`") from None

    def _table(self, path: str) -> Any:
        import h5py

        found = self.h5.get(path)
        if found is None:
            raise NwbContentError(f"{self.source}: not an ns1nwb file (missing {path}); "
                                  "convert the raw release with `ns1nwb convert`")
        if not isinstance(found, h5py.Group):
            raise NwbContentError(f"{self.source}: not an ns1nwb file ({path} is not a table)")
        return found

    def _column(self, table: Any, name: str) -> Any:
        import h5py

        found = table.get(name)
        if not isinstance(found, h5py.Dataset):
            what = "missing" if found is None else "not a dataset"
            raise NwbContentError(f"{self.source}: not an ns1nwb file ({table.name}/{name} {what}); "
                                  "convert the raw release with `ns1nwb convert`")
        return found

    def _corrupt(self, what: str) -> NwbContentError:
        return NwbContentError(f"{self.source}: damaged ns1nwb file ({what})")

    def _check_shapes(self, trial_ends: np.ndarray) -> None:
        """Cheap checks (no spike data read) that the ragged columns and tables agree."""
        ends, n_spikes = self.spike_ends, self._spike_times.shape[0] if self._spike_times.ndim == 1 else -1
        if n_spikes < 0 or (ends.size and (np.any(np.diff(ends) < 0) or ends[0] < 0 or ends[-1] != n_spikes)) \
                or (not ends.size and n_spikes):
            raise self._corrupt("units/spike_times_index does not match units/spike_times")
        if self._spike_trial.shape != self._spike_times.shape:
            raise self._corrupt(f"units/spike_trial has {self._spike_trial.shape[0]:,} values for "
                                f"{n_spikes:,} spike times")
        if not np.array_equal(trial_ends, ends):
            raise self._corrupt("units/spike_trial_index does not match units/spike_times_index")
        if self.unit_session.shape != ends.shape or (
                self.metadata_row is not None and self.metadata_row.shape != ends.shape):
            raise self._corrupt("the units table's columns have different lengths")
        n_trials = self.trial_start_s.shape[0]
        if any(column.shape[:1] != (n_trials,) for column in
               (self.trial_stimulus, self.trial_repeat, self.trial_session, self.trial_length_ms,
                self.trial_stop_s)):
            raise self._corrupt("the trials table's columns have different lengths")
        if n_trials and (self.trial_stimulus.min() < 0 or self.trial_repeat.min() < 0):
            raise self._corrupt("negative stimulus_index or repeat_index in the trials table")

    def close(self) -> None:
        """Close the h5py file, then what it reads through (remfile, its session): each one even if one
        before it raises (that error is raised at the end). A second call does nothing."""
        closers, self._closers = self._closers, []
        with contextlib.ExitStack() as stack:  # runs the callbacks last to first
            for closer in closers:
                stack.callback(closer.close)

    def trial_row(self, session: str, stimulus: int, repeat: int) -> int | None:
        if self._trial_row is None:
            self._trial_row = {
                (s, int(st), int(r)): i
                for i, (s, st, r) in enumerate(zip(self.trial_session, self.trial_stimulus, self.trial_repeat))
            }
        return self._trial_row.get((session, stimulus, repeat))

    def observed(self, local: int) -> np.ndarray:
        """Boolean mask over the trials table: the presentations unit ``local`` was recorded in.

        A trial of the unit's recording block (``session_id``) whose ``[start_time, stop_time]`` lies
        inside one of the unit's ``obs_intervals``: one interval per recorded sweep in current files
        (a cluster sorted over part of a block misses the other sweeps), one per block in older ones
        (every trial of the block). Without ``obs_intervals``, every trial of the block.
        """
        found = self._observed.get(local)
        if found is not None:
            return found
        rows = self._block_rows(self.unit_session[local])
        intervals = self._unit_intervals(local)
        if intervals is None:
            inside = np.ones(rows.size, dtype=bool)
        else:
            intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
            # The interval starting last at or before each trial's start must also end at or after its stop.
            slack = 1e-6  # s: room for float rounding only (sweeps are hundreds of ms apart)
            which = np.searchsorted(intervals[:, 0], self.trial_start_s[rows] + slack, side="right") - 1
            inside = which >= 0
            inside[inside] = self.trial_stop_s[rows[inside]] <= intervals[which[inside], 1] + slack
        mask = np.zeros(self.trial_start_s.shape[0], dtype=bool)
        mask[rows[inside]] = True
        self._observed[local] = mask
        return mask

    def _block_rows(self, session: str) -> np.ndarray:
        """Trial rows of one recording block (grouped once: comparing strings per unit is slow)."""
        if self._rows_by_session is None:
            names, codes = np.unique(self.trial_session.astype(str), return_inverse=True)
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(names.size + 1))
            self._rows_by_session = {str(name): order[bounds[i]:bounds[i + 1]] for i, name in enumerate(names)}
        return self._rows_by_session.get(str(session), np.empty(0, dtype=np.int64))

    def _unit_intervals(self, local: int) -> np.ndarray | None:
        """The unit's obs_intervals, (k, 2) s; None when the file has none (every trial of the block counts).

        Read whole at the first use (a few MB for the whole release).
        """
        if self._obs_intervals is False:
            return None
        if self._obs_intervals is None:
            units = self.h5["units"]
            if "obs_intervals" not in units or "obs_intervals_index" not in units:
                self._obs_intervals = False  # looked up once: group lookups cost more than the rest
                return None
            with self.readable():
                data, ends = units["obs_intervals"][:], units["obs_intervals_index"][:].astype(np.int64)
            if data.ndim != 2 or data.shape[1] != 2 or ends.shape != (self.n_units,) or \
                    np.any(np.diff(ends) < 0) or (ends.size and ends[-1] != data.shape[0]):
                raise self._corrupt("units/obs_intervals does not match its index or the units table")
            self._obs_intervals = (data, ends)
        data, ends = self._obs_intervals
        return data[(ends[local - 1] if local else 0):ends[local]]

    def unit_table(self) -> "Any":
        import pandas as pd

        units = self.h5["units"]
        data: dict[str, Any] = {}
        with self.readable():
            colnames = [c.decode() if isinstance(c, bytes) else str(c) for c in units.attrs.get("colnames", [])]
            for name in colnames:
                # Per-spike and ragged columns (spike_times, spike_trial, obs_intervals...) are not per unit.
                if name in _NOT_PER_UNIT or f"{name}_index" in units or name not in units:
                    continue
                values = self._group_names(units[name]) if name == "electrode_group" else units[name][:]
                if values.shape[:1] != (self.n_units,):
                    raise self._corrupt(f"units/{name} has {values.shape[0]} rows for {self.n_units} units")
                data[name] = as_text(values)
        data["n_spikes"] = np.diff(np.concatenate([[0], self.spike_ends]))
        return pd.DataFrame(data)

    def _group_names(self, column: Any) -> np.ndarray:
        """The electrode group name of each unit: one name lookup per group, not per unit.

        Object references are read as their raw addresses, so that equal references can be found with
        numpy; h5py's reference objects compare by identity.
        """
        import h5py

        refs = column[:]
        raw = _reference_addresses(column)
        if raw is None:  # not classic object references: one by one
            return np.array([self.h5[ref].name.rsplit("/", 1)[-1] for ref in refs], dtype=object)
        addresses, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
        if not addresses.size:
            return np.array([], dtype=object)

        def name_of(i: int) -> str:  # a path lookup costs 0.1 ms
            return h5py.h5i.get_name(h5py.h5r.dereference(refs[i], self.h5.id)).decode().rsplit("/", 1)[-1]

        # The groups sit side by side (general/extracellular_ephys): name them all by address at once.
        parent = self.h5[refs[first[0]]].parent
        by_address = {h5py.h5o.get_info(parent.id, name.encode()).addr: name for name in parent}
        names = [by_address.get(int(address)) or name_of(i) for address, i in zip(addresses, first)]
        return np.array(names, dtype=object)[inverse.reshape(-1)]

    def spikes(self, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(spike times s, trial rows) of units ``first`` to ``stop - 1``: one slice of each spike array.

        The trial rows keep the file's small integer type and are checked: a row outside the trials
        table is a damaged file (:class:`NwbContentError` naming it), never a wrapped index.
        """
        begin, end = int(self.spike_starts[first]), int(self.spike_ends[stop - 1])
        with self.readable():
            times, trials = self._spike_times[begin:end], self._spike_trial[begin:end]
        if trials.size and (trials.dtype.kind not in "iu" or trials.min() < 0
                            or trials.max() >= self.trial_start_s.shape[0]):
            raise self._corrupt(f"a spike's trial row is not a row of the trials table ({trials.dtype} "
                                f"{trials.min()}-{trials.max()}, {self.trial_start_s.shape[0]} trials)")
        return times, trials

    def relative_ms(self, times_s: np.ndarray, trial_rows: np.ndarray) -> np.ndarray:
        """ms after each spike's trial onset (trial rows from :meth:`spikes`)."""
        return (times_s - self.trial_start_s[trial_rows]) * 1000.0


def _reference_addresses(column: Any) -> np.ndarray | None:
    """The object references of ``column`` as their raw addresses (uint64), or None when they are not
    classic object references."""
    import h5py

    raw = np.empty(column.shape, dtype=np.uint64)
    try:
        column.id.read(h5py.h5s.ALL, h5py.h5s.ALL, raw, mtype=h5py.h5t.STD_REF_OBJ)
    except (TypeError, ValueError, KeyError, RuntimeError):
        return None
    return raw


def open_h5(source: str | os.PathLike) -> tuple[Any, list[Any]]:
    """(open h5py file, things to close in reverse order) for a local path or an http(s) URL."""
    import h5py

    text = str(source)
    if is_url(text):
        from .remote import open_url  # timeouts and one-line HTTP errors

        return open_url(text)
    path = Path(source)
    if not path.is_file():
        raise NwbContentError(f"{path}: no such NWB file")
    try:
        handle = h5py.File(path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
    except OSError as err:
        raise NwbContentError(f"{path}: not an HDF5/NWB file ({err})") from None
    return handle, [handle]


def _sources(path: str | os.PathLike) -> list[str | os.PathLike]:
    text = str(path)
    if not is_url(text) and Path(text).is_dir():
        sources: list[str | os.PathLike] = sorted(Path(text).rglob("*.nwb"))
        if not sources:
            raise NwbContentError(f"{text}: folder has no .nwb files")
        return sources
    return [path]


def check_distinct(files: list[NwbFile]) -> None:
    """Refuse files that repeat another's recording: the same identifier, or a unit of the same session.

    Raises
    ------
    NwbContentError
        Naming both files and what they share.
    """
    by_identifier: dict[str, str] = {}
    by_unit: dict[tuple[str, str], str] = {}
    for nwb in files:
        if nwb.identifier:
            other = by_identifier.setdefault(nwb.identifier, nwb.source)
            if other != nwb.source:
                raise NwbContentError(f"{other} and {nwb.source}: the same file twice (identifier "
                                      f"{nwb.identifier}); keep one of them in the folder")
        units = nwb.h5["units"]
        if "unit_name" not in units:
            continue
        with nwb.readable():
            names = as_text(units["unit_name"][:])
        mine: set[tuple[str, str]] = set()
        for name, session in zip(names, nwb.unit_session):
            key = (str(name), str(session))
            other = by_unit.get(key)
            if other is not None and other != nwb.source:
                raise NwbContentError(
                    f"{other} and {nwb.source}: both hold unit {key[0]} of session {key[1]} (two copies of one "
                    "recording, or the pooled file beside the per-session files?); keep one of them in the folder")
            mine.add(key)
        for key in mine:
            by_unit.setdefault(key, nwb.source)


def open_files(path: str | os.PathLike) -> list[NwbFile]:
    """Open every file of ``path`` (checked, see :class:`NwbFile`); on any error close what was opened."""
    files: list[NwbFile] = []
    try:
        for source in _sources(path):
            handle, closers = open_h5(source)
            try:
                files.append(NwbFile(source, handle, closers))
            except BaseException:
                for closer in reversed(closers):
                    closer.close()
                raise
        if len(files) > 1:
            check_distinct(files)
    except BaseException:
        for nwb in files:
            nwb.close()
        raise
    return files
