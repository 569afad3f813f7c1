"""Opening what :func:`ns1nwb.open` takes (a file, a folder of per-session files, a URL): one :class:`NwbFile`
per file, opened with h5py, checked, and read lazily.

A folder must hold each recording once: two copies of one file, or the pooled file beside
the per-session files it was converted with, would give every unit twice (and doubled
counts in ``ns1nwb info``), so either is an error naming both files.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import numpy as np

from ..exceptions import NwbContentError
from .checks import check_ragged_ends, check_spike_ends, check_stimulus_ids, check_trials, damaged, table_length

__all__ = ["NwbFile", "NwbFileHandle", "open_files", "open_h5", "check_distinct", "as_text", "is_url",
           "nwb_files_in"]

#: Unit columns that are per-spike (ragged) or references, not one value per unit.
_NOT_PER_UNIT = {"spike_times", "spike_trial", "obs_intervals", "electrodes"}
#: What h5py and numpy raise on a damaged or foreign file; turned into one NwbContentError naming the file.
_READ_ERRORS = (KeyError, ValueError, TypeError, IndexError, OSError, RuntimeError, AttributeError)
#: HDF5 chunk cache per dataset: room for a few 1-MB spike chunks, so that reading the spike arrays
#: unit by unit does not inflate a chunk two units share twice.
_CHUNK_CACHE_BYTES = 8 * 1024 * 1024
#: errno of a file that HDF5 could not lock (another process has it open for writing).
_LOCKED = (errno.EAGAIN, errno.EWOULDBLOCK)
#: What HDF5 says then (a truncated file says "sblock", so not just "lock").
_LOCKED_TEXT = ("unable to lock file", "already open for write")


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
            self._spike_times = self._column(units, "spike_times")
            self._spike_trial = self._column(units, "spike_trial")
            unit_columns = self._columns(units, ("spike_times_index", "spike_trial_index", "session_id"),
                                         ("id", "metadata_row"))
            trial_columns = self._columns(trials, ("start_time", "stimulus_index", "repeat_index", "session_id",
                                                   "length_signal_ms"), ("id", "stop_time"))
            stimulus_columns = self._columns(stimuli, ("id", "n_repeats"), ())
            # Shapes first (nothing read): a damaged column millions of values long is refused unread.
            table_length(self.source, "units", unit_columns, ("spike_times_index", "spike_trial_index", "metadata_row"))
            table_length(self.source, "units", {"spike_times": self._spike_times, "spike_trial": self._spike_trial},
                         ("spike_trial",), per="spike")
            check_ragged_ends(self.source, unit_columns["spike_times_index"], self._spike_times)
            check_ragged_ends(self.source, unit_columns["spike_trial_index"], self._spike_trial)
            table_length(self.source, "intervals/trials", trial_columns, ("stimulus_index", "repeat_index"))
            self.n_stimuli = table_length(self.source, "processing/stimuli/stimuli", stimulus_columns, ("id",))
            self.spike_ends = unit_columns["spike_times_index"][:].astype(np.int64)
            check_spike_ends(self.source, self.spike_ends, unit_columns["spike_trial_index"][:])
            self.trial_start_s = trial_columns["start_time"][:]
            self.trial_stop_s = trial_columns["stop_time"][:] if "stop_time" in trial_columns else self.trial_start_s
            self.trial_stimulus = trial_columns["stimulus_index"][:].astype(np.int64)
            self.trial_repeat = trial_columns["repeat_index"][:].astype(np.int64)
            self.trial_session = as_text(trial_columns["session_id"][:])
            self.trial_length_ms = trial_columns["length_signal_ms"][:]
            self.unit_session = as_text(unit_columns["session_id"][:])
            check_stimulus_ids(self.source, stimulus_columns["id"][:])
            # Each trial's session as a number, once: for the check here and the rows of each block (observed).
            self._session_names, self._trial_block = _codes(self.trial_session)
            check_trials(self.source, self._session_names, self._trial_block, self.trial_stimulus, self.trial_repeat,
                         self.n_stimuli)
            #: Each unit's metadata row (-1: not in the metadata), or None when the file has no such column.
            self.metadata_row = unit_columns["metadata_row"][:].astype(np.int64) if "metadata_row" in unit_columns \
                else None
            identifier = h5file["identifier"][()] if "identifier" in h5file else b""
            self.identifier = identifier.decode() if isinstance(identifier, bytes) else str(identifier)
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
            detail = " ".join(str(detail).split())[:300]  # one line
            if isinstance(err, OSError) and is_url(self.source):  # the server, or the file
                raise NwbContentError(f"{self.source}: cannot read its data over HTTP, or the file is damaged "
                                      f"({detail})") from None
            if isinstance(err, OSError):  # HDF5 could not read (a chunk that does not decompress, a cut file)
                raise self.damaged_error(f"cannot read its data: {detail}") from None
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

    def _columns(self, table: Any, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
        """The datasets ``required`` (see :meth:`_column`) and those of ``optional`` the table has (not read)."""
        found = {name: self._column(table, name) for name in required}
        found.update({name: self._column(table, name) for name in optional if name in table})
        return found

    def damaged_error(self, what: str) -> NwbContentError:
        """The damaged-file error naming this file (see :func:`~ns1nwb.read.checks.damaged`)."""
        return damaged(self.source, what)

    def close(self) -> None:
        """Close the h5py file, then what it reads through (the URL reader and its HTTP session): each one even if one
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
            order = np.argsort(self._trial_block, kind="stable")
            bounds = np.searchsorted(self._trial_block[order], np.arange(len(self._session_names) + 1))
            self._rows_by_session = {str(name): order[bounds[i]:bounds[i + 1]]
                                     for i, name in enumerate(self._session_names)}
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
                data, index = units["obs_intervals"], units["obs_intervals_index"]
                # The shapes first (nothing read), then the two arrays whole.
                if data.ndim != 2 or data.shape[1] != 2 or index.shape != (self.n_units,):
                    raise self.damaged_error("units/obs_intervals does not match its index or the units table")
                check_ragged_ends(self.source, index, data)
                data, ends = data[:], index[:].astype(np.int64)
            if np.any(np.diff(ends) < 0) or (ends.size and ends[0] < 0):
                raise self.damaged_error("units/obs_intervals_index is not a non-decreasing index")
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
                column = units[name]
                if column.shape[:1] != (self.n_units,):  # checked before reading: the shape is in the header
                    raise self.damaged_error(f"units/{name} has shape {column.shape} for {self.n_units} units")
                data[name] = as_text(self._group_names(column) if name == "electrode_group" else column[:])
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
            raise self.damaged_error(f"a spike's trial row is not a row of the trials table ({trials.dtype} "
                                f"{trials.min()}-{trials.max()}, {self.trial_start_s.shape[0]} trials)")
        return times, trials

    def relative_ms(self, times_s: np.ndarray, trial_rows: np.ndarray) -> np.ndarray:
        """ms after each spike's trial onset (trial rows from :meth:`spikes`)."""
        return (times_s - self.trial_start_s[trial_rows]) * 1000.0

    def template_data(self, name: str) -> Any:
        """The data of the stimulus template ``name`` (an h5py dataset, not read: see :meth:`read`)."""
        with self.readable():
            series = self.h5.get(f"stimulus/templates/{name}")
            data = series.get("data") if series is not None else None
        if data is None:
            raise self.damaged_error(f"stimulus/templates/{name}/data, named by the stimuli table, is missing")
        return data

    def template_rate(self, name: str) -> float:
        """The sampling rate (Hz) of the stimulus template ``name``: a positive finite number."""
        with self.readable():
            timing = self.h5.get(f"stimulus/templates/{name}/starting_time")
            rate = float(timing.attrs["rate"]) if timing is not None and "rate" in timing.attrs else math.nan
        if not math.isfinite(rate) or rate <= 0:
            raise self.damaged_error(f"stimulus/templates/{name} has no positive sampling rate (rate {rate:g} Hz)")
        return rate

    def read(self, dataset: Any, selection: Any = slice(None)) -> np.ndarray:
        """``dataset[selection]``; a chunk HDF5 cannot read is the damaged-file error (see :meth:`readable`)."""
        with self.readable():
            return dataset[selection]


def _codes(values: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """(the distinct values in first-seen order, each value's number among them): a dict, as sorting strings
    costs more."""
    numbers: dict[Any, int] = {}
    codes = np.fromiter((numbers.setdefault(value, len(numbers)) for value in values), dtype=np.int64,
                        count=len(values))
    return list(numbers), codes


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
        detail = " ".join(str(err).split())
        if err.errno in _LOCKED or any(text in detail.lower() for text in _LOCKED_TEXT):
            # HDF5's file lock: another process writes the file (it is whole again once that one closes it).
            raise NwbContentError(f"{path}: is open for writing by another program ({detail}); wait for it to "
                                  "finish, or close the file there") from None
        raise NwbContentError(f"{path}: not an HDF5/NWB file ({detail})") from None
    return handle, [handle]


def nwb_files_in(folder: Path) -> list[Path]:
    """The ``.nwb`` files under ``folder`` (searched recursively), sorted; hidden entries left out: a name
    starting with a dot, or inside a folder whose name does (macOS ``._x.nwb``, the temporaries and staging
    folders of a conversion under way or killed, ``.<name>.<hex>.ns1nwb-partial``)."""
    return [file for file in sorted(folder.rglob("*.nwb"))
            if not any(part.startswith(".") for part in file.relative_to(folder).parts) and file.is_file()]


def _sources(path: str | os.PathLike) -> list[str | os.PathLike]:
    """The files to open: ``path``, or the ``.nwb`` files of a folder (:func:`nwb_files_in`)."""
    text = str(path)
    if not is_url(text) and Path(text).is_dir():
        sources: list[str | os.PathLike] = list(nwb_files_in(Path(text)))
        if not sources:
            hidden = next(Path(text).rglob("*.nwb"), None)
            ignored = f" (only hidden entries, ignored: {hidden.relative_to(text)})" if hidden else ""
            raise NwbContentError(f"{text}: folder has no .nwb files{ignored}")
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
            if units["unit_name"].shape != (nwb.n_units,):
                raise nwb.damaged_error(f"units/unit_name has shape {units['unit_name'].shape} for {nwb.n_units} units")
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
