"""Read ns1nwb files back: unit and stimulus tables, trial spike times, response grids.

:func:`open` takes a pooled ``.nwb`` file, a folder of per-session files or an
http(s) URL. It reads with h5py directly (no pynwb object tree), lazily: opening
reads only the small tables; spike data are read in bulk (one read of the data
and of the index) or per unit when a few units are asked for.

The response grid follows the seed (deepSTRF ``NS1Dataset``) exactly: spike
times in ms after onset rounded to integer ms (``np.round``), kept in
``[0, T * dt_ms)``, one-hot per ms (two spikes in one rounded ms count once),
summed per ``dt_ms`` bin, then optionally smoothed with the unnormalised
``np.hanning(K)`` kernel, ``K = int(window_ms // dt_ms)`` made odd, zero padded.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from .constants import DEFAULT_DT_MS, DEFAULT_WINDOW_MS, N_NATURAL, RESPONSE_WINDOW_MS
from .exceptions import NwbContentError
from .workers import worker_count

__all__ = ["open", "Recording", "NwbFileHandle", "bin_spike_times", "hanning_kernel"]

#: Unit columns that are per-spike (ragged) or references, not one value per unit.
_NOT_PER_UNIT = {"spike_times", "spike_trial_index", "obs_intervals", "electrodes"}
#: Asking for more units than this reads the spike arrays whole.
_BULK_READ_UNITS = 8
#: HDF5 chunk cache per dataset: room for a few 1-MB spike chunks, so threads reading
#: neighbouring slices do not decompress a shared boundary chunk twice.
_CHUNK_CACHE_BYTES = 8 * 1024 * 1024


# --------------------------------------------------------------------------- the grid algorithm


def hanning_kernel(window_ms: float, dt_ms: float) -> np.ndarray:
    """The seed's smoothing kernel: ``np.hanning(K)``, ``K = int(window_ms // dt_ms)`` made odd, unnormalised."""
    width = int(window_ms // dt_ms)
    if width % 2 == 0:
        width += 1
    return np.hanning(width)


def _n_bins(dt_ms: float) -> tuple[int, int]:
    """(bin width in whole ms, number of bins T = floor(4995 / dt_ms))."""
    if not float(dt_ms).is_integer() or dt_ms < 1:
        raise ValueError(f"dt_ms={dt_ms!r}: bins are sums of whole milliseconds, so dt_ms must be a whole number >= 1")
    width = int(dt_ms)
    return width, RESPONSE_WINDOW_MS // width


def bin_spike_times(relative_ms: np.ndarray, row: np.ndarray, n_rows: int, dt_ms: float = DEFAULT_DT_MS,
                    kernel: np.ndarray | None = None, presorted: bool = False) -> np.ndarray:
    """Count spikes per (row, bin) the seed's way, optionally smoothed.

    Parameters
    ----------
    relative_ms : np.ndarray, shape (n_spikes,)
        Spike times, ms after the onset of their presentation.
    row : np.ndarray of int, shape (n_spikes,)
        Output row of each spike (e.g. a flattened (stimulus, repeat)); negative rows are dropped.
    n_rows : int
    dt_ms : float, whole milliseconds
    kernel : np.ndarray, optional
        Smoothing kernel (odd length, symmetric); None for raw counts.
    presorted : bool, default False
        The spikes of each row are consecutive and in time order (true of ns1nwb
        files, whose spikes are sorted within trials): duplicates are then found
        by comparing neighbours instead of sorting.

    Returns
    -------
    np.ndarray, float32, shape (n_rows, T)
        T = floor(4995 / dt_ms); a rounded millisecond holding two spikes counts once.
    """
    _, n_bins = _n_bins(dt_ms)
    out = np.zeros((n_rows, n_bins), dtype=np.float32)
    if kernel is not None and kernel.size == 0:  # no kernel: raw counts
        kernel = None
    _add_binned(out, relative_ms, row, dt_ms, kernel, presorted)
    return out


def _exact_in_float32(kernel: np.ndarray | None) -> bool:
    """Whether float32 sums of small spike counts times these weights are exact.

    True of the default ``np.hanning(5)`` = (0, 0.5, 1, 0.5, 0) and of every kernel
    with weights in quarters; such grids can be summed in place in float32, in any order.
    """
    return kernel is None or bool(np.all(kernel * 256.0 == np.rint(kernel * 256.0)))


def _add_binned(out: np.ndarray, relative_ms: np.ndarray, row: np.ndarray, dt_ms: float,
                kernel: np.ndarray | None, presorted: bool) -> None:
    """Add the binned (smoothed) spikes into ``out`` (float32, C-contiguous, (n_rows, T), zero-filled).

    Spikes whose row is outside ``[0, n_rows)`` or whose rounded time is outside
    ``[0, T * dt_ms)`` are dropped.
    """
    width, n_bins = _n_bins(dt_ms)
    span = width * n_bins
    n_rows = out.shape[0]
    # Half the memory traffic when every key fits in 32 bits (the full default grid: 2.4e8).
    signed, unsigned = (np.int32, np.uint32) if n_rows * span < 2**31 else (np.int64, np.uint64)
    with np.errstate(invalid="ignore"):  # NaN/inf/huge become out-of-range integers, dropped below
        ms = np.rint(relative_ms).astype(signed)  # np.rint = np.round: half to even
    row = np.asarray(row)
    if row.dtype != signed:  # rows past the grid stay past it (or negative) when narrowed
        row = np.clip(row, -1, n_rows).astype(signed)
    # As unsigned, negatives are huge: one comparison per bound.
    keep = ms.view(unsigned) < span
    keep &= row.view(unsigned) < n_rows
    # key = (row, ms) in one integer; key // width = row * T + bin.
    key = row * span
    key += ms
    key = key[keep]
    # One-hot per (row, ms): a second spike in the same rounded millisecond is dropped.
    if not presorted:
        key = np.unique(key)
    elif key.size > 1:
        first = np.empty(key.size, dtype=bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        key = key[first]
    flat = key // width if width > 1 else key
    taps = [(0, 1.0)] if kernel is None else [
        (offset - kernel.size // 2, float(weight)) for offset, weight in enumerate(kernel) if weight != 0.0]
    spike_bin = flat % n_bins if any(shift for shift, _ in taps) else flat

    def targets(shift: int) -> np.ndarray:
        if shift == 0:
            return flat
        # Zero padding: what a tap would carry past either end of its row is dropped.
        inside = spike_bin >= -shift if shift < 0 else spike_bin < n_bins - shift
        return flat[inside] + shift

    flat_out = out.reshape(-1)
    if not _exact_in_float32(kernel):
        # Irrational weights (e.g. np.hanning(21) for 1-ms bins): sum in float64, round once, as the seed does.
        total = np.zeros(flat_out.size, dtype=np.float64)
        for shift, weight in taps:
            total += np.bincount(targets(shift), minlength=total.size) * weight
        flat_out += total.astype(np.float32)
        return
    # Smoothing is linear: spread each spike over the kernel's taps. Exact in float32,
    # so scattered straight into ``out``.
    for shift, weight in taps:
        np.add.at(flat_out, targets(shift), np.float32(weight))  # a numpy scalar keeps add.at on its fast path


def _split_for_threads(n_units: int) -> list[np.ndarray]:
    """Unit positions in consecutive pieces: one for a few units, else three per thread (reads overlap binning)."""
    threads = worker_count()
    if n_units <= _BULK_READ_UNITS or threads == 1:
        return [np.arange(n_units)]
    return [piece for piece in np.array_split(np.arange(n_units), 3 * threads) if piece.size]


def _bin_units(nwb: "_File", members: list[tuple[int, int]], trial_slot: np.ndarray, grid_rows: np.ndarray,
               n_rows: int, dt_ms: float, kernel: np.ndarray | None,
               whole: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Bin the spikes of ``members`` ((output position, unit in file) pairs) into their rows of ``grid_rows``.

    Each unit owns ``n_rows`` consecutive rows; ``trial_slot`` maps each trial of the file
    to its (stimulus, repeat) row among them, or to ``len(grid_rows)`` or more to drop the trial.
    ``whole``: the file's spike arrays, when already read in full.
    """
    for out, _ in members:
        grid_rows[out * n_rows:(out + 1) * n_rows].fill(0.0)
    times, trials, bounds = nwb.spikes([local for _, local in members], whole)
    relative = nwb.relative_ms(times, trials, overwrite=True)  # times is a fresh array (a read or a copy)
    out_index = np.array([out for out, _ in members], dtype=np.int32)
    # Each spike's row of the whole grid: (output unit, stimulus, repeat) flattened.
    rows = np.repeat(out_index * np.int32(n_rows), np.diff(bounds))
    rows += trial_slot[trials]
    # Spikes come trial by trial within each unit unless trials overlap; check, don't assume.
    in_order = trials[1:] >= trials[:-1]
    unit_starts = bounds[1:-1]
    in_order[unit_starts[(unit_starts > 0) & (unit_starts < trials.size)] - 1] = True
    if _exact_in_float32(kernel):  # the default: all these units in one pass, summed in place
        _add_binned(grid_rows, relative, rows, dt_ms, kernel, presorted=bool(in_order.all()))
        return
    for i, (out, _) in enumerate(members):  # float64 sums: one unit at a time bounds the scratch memory
        a, b = bounds[i], bounds[i + 1]
        _add_binned(grid_rows[out * n_rows:(out + 1) * n_rows], relative[a:b], rows[a:b] - out * n_rows,
                    dt_ms, kernel, presorted=bool(in_order[a:b - 1].all()))


# --------------------------------------------------------------------------- one file


def _text(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "SO":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)
    return values


class _File:
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
            self.trial_session = _text(trials["session_id"][:])
            self.trial_length_ms = trials["length_signal_ms"][:]
            self.unit_session = _text(units["session_id"][:])
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
            data[name] = _text(values)
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
        if whole is not None or local_units.size > _BULK_READ_UNITS:
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


def _open_h5(source: str | os.PathLike) -> tuple[Any, list[Any]]:
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


# --------------------------------------------------------------------------- the recording


class NwbFileHandle(NamedTuple):
    """One file of a :class:`Recording`: where it came from and its open h5py handle (read-only)."""

    source: str
    h5: Any


@dataclass(frozen=True)
class _UnitRef:
    file: int
    local: int


class Recording:
    """The NS1 units, stimuli and trials of one pooled file or a folder of per-session files.

    Use :func:`ns1nwb.open` to make one; close it (or use ``with``) when done.
    """

    def __init__(self, files: list[_File]):
        self._files = files
        self._units_df: Any = None
        self._stimuli_df: Any = None
        self._n_repeats: np.ndarray | None = None
        order = []
        for f_index, nwb in enumerate(files):
            meta_index = nwb.h5["units/metadata_index"][:] if "metadata_index" in nwb.h5["units"] else None
            for local in range(nwb.n_units):
                key = int(meta_index[local]) if meta_index is not None else local
                order.append((key, f_index, local))
        order.sort()
        self._unit_refs = [_UnitRef(f, local) for _, f, local in order]

    # -- context manager
    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close every underlying file."""
        for nwb in self._files:
            nwb.close()
        self._files = []

    def __repr__(self) -> str:
        return f"<ns1nwb.Recording: {len(self._unit_refs)} units from {len(self._files)} file(s)>"

    @property
    def files(self) -> list[NwbFileHandle]:
        """The open files behind this recording: ``(source, h5)`` pairs, ``h5`` an open ``h5py.File``."""
        return [NwbFileHandle(nwb.source, nwb.h5) for nwb in self._files]

    # -- tables
    @property
    def units(self) -> "Any":
        """pandas DataFrame, one row per unit in metadata order, every per-unit column (plus ``n_spikes``)."""
        if self._units_df is None:
            import pandas as pd

            tables = [nwb.unit_table() for nwb in self._files]
            rows = [tables[ref.file].iloc[ref.local] for ref in self._unit_refs]
            self._units_df = pd.DataFrame(rows).reset_index(drop=True)
        return self._units_df

    @property
    def stimuli(self) -> "Any":
        """pandas DataFrame of the 32 stimuli, indexed by stimulus index."""
        if self._stimuli_df is None:
            import pandas as pd

            table = self._files[0].h5["processing/stimuli/stimuli"]
            colnames = [c.decode() if isinstance(c, bytes) else str(c) for c in table.attrs["colnames"]]
            frame = pd.DataFrame({name: _text(table[name][:]) for name in colnames})
            frame.index = pd.Index(table["id"][:], name="stimulus_index")
            self._stimuli_df = frame
        return self._stimuli_df

    @property
    def audio_rate(self) -> float | None:
        """Sample rate (Hz) of the stored waveforms; None when the file holds none."""
        names = [n for n in self.stimuli["waveform_series"] if n]
        if not names:
            return None
        return float(self._files[0].h5[f"stimulus/templates/{names[0]}/starting_time"].attrs["rate"])

    # -- unit selection
    def _unit_positions(self, units: Any) -> list[int]:
        n = len(self._unit_refs)
        if units is None:
            return list(range(n))
        if isinstance(units, (int, np.integer)):
            units = [int(units)]
        if isinstance(units, str):
            units = [units]
        values = np.asarray(units.to_numpy() if hasattr(units, "to_numpy") else list(units))
        if values.dtype == bool:
            if values.size != n:
                raise ValueError(f"a boolean unit mask needs {n} values, got {values.size}")
            return [int(i) for i in np.flatnonzero(values)]
        if values.dtype.kind in "OU":
            names = list(self.units["unit_name"])
            missing = [v for v in values if v not in names]
            if missing:
                raise KeyError(f"no unit named {missing[0]!r}")
            return [names.index(v) for v in values]
        positions = [int(v) for v in values]
        bad = [p for p in positions if not -n <= p < n]
        if bad:
            raise IndexError(f"unit index {bad[0]} out of range for {n} units")
        return [p % n for p in positions]

    def _unit_position(self, unit: int | str) -> int:
        return self._unit_positions([unit] if not isinstance(unit, (list, tuple)) else unit)[0]

    # -- spikes
    def trial_spike_times_ms(self, unit: int | str, stimulus: int, repeat: int) -> np.ndarray:
        """Spike times of one presentation, ms after its onset, sorted (float64).

        Parameters
        ----------
        unit : int or str
            Row of :attr:`units` or a ``unit_name``.
        stimulus : int
            Stimulus index, 0-31.
        repeat : int
            Repeat index within the unit's recording block.
        """
        ref = self._unit_refs[self._unit_position(unit)]
        nwb = self._files[ref.file]
        row = nwb.trial_row(nwb.unit_session[ref.local], int(stimulus), int(repeat))
        if row is None:
            raise KeyError(f"unit {unit!r} has no presentation of stimulus {stimulus} repeat {repeat}")
        times, trials, _ = nwb.spikes([ref.local])
        mine = trials == row
        return np.sort(nwb.relative_ms(times[mine], trials[mine]))

    def response_grid(self, units: Any = None, stimuli: Iterable[int] = range(N_NATURAL),
                      dt_ms: float = DEFAULT_DT_MS, smooth: bool = True,
                      window_ms: float = DEFAULT_WINDOW_MS) -> np.ndarray:
        """Binned (and smoothed) responses, exactly as the seed computes them.

        Parameters
        ----------
        units : None, int, str, sequence of int/str, or boolean mask
            None for all units (metadata order); e.g. ``rec.units.is_good`` for the 73.
        stimuli : iterable of int, default range(20)
            Stimulus indices; all must have the same number of repeats (20 natural, 5 DRC).
        dt_ms : float, whole milliseconds, default 5
        smooth : bool, default True
            Apply the unnormalised Hanning kernel (``window_ms`` wide).
        window_ms : float, default 21

        Returns
        -------
        np.ndarray, float32, shape (n_units, n_stimuli, n_repeats, T)
            T = floor(4995 / dt_ms). A presentation missing from a unit's block is NaN.
        """
        positions = self._unit_positions(units)
        stimuli = [int(s) for s in stimuli]
        if not stimuli:
            raise ValueError("stimuli is empty")
        n_repeats = self._repeats_per_stimulus(stimuli)
        _, n_bins = _n_bins(dt_ms)
        n_stimuli = len(stimuli)
        # Not zeros: each unit's rows are zero-filled by the thread that bins it, so the
        # fresh memory is first touched in parallel and outside the GIL-holding np.add.at.
        grid = np.empty((len(positions), n_stimuli, n_repeats, n_bins), dtype=np.float32)
        stimulus_slot = np.full(64, -1, dtype=np.int64)
        stimulus_slot[stimuli] = np.arange(n_stimuli)

        kernel = hanning_kernel(window_ms, dt_ms) if smooth else None
        by_file: dict[int, list[tuple[int, int]]] = {}
        for out_index, position in enumerate(positions):
            ref = self._unit_refs[position]
            by_file.setdefault(ref.file, []).append((out_index, ref.local))
        n_rows = n_stimuli * n_repeats
        grid_rows = grid.reshape(len(positions) * n_rows, n_bins)
        for f_index, members in by_file.items():
            nwb = self._files[f_index]
            trial_slot = stimulus_slot[nwb.trial_stimulus] * n_repeats + nwb.trial_repeat
            # Trials not asked for point past the grid's last row, so their spikes are dropped.
            trial_slot[(stimulus_slot[nwb.trial_stimulus] < 0) | (nwb.trial_repeat >= n_repeats)] = grid_rows.shape[0]
            trial_slot = trial_slot.astype(np.int32)  # row numbers: int32 halves the per-spike traffic
            pieces = _split_for_threads(len(members))
            locals_ = np.array([local for _, local in members])
            whole = None
            if len(pieces) > 1 and not np.all(np.diff(locals_) == 1):
                # Scattered units (e.g. rec.units.is_good): one bulk read shared by the pieces,
                # not one per piece.
                whole = nwb.read_all_spikes()
            work = [(nwb, [members[i] for i in piece], trial_slot, grid_rows, n_rows, dt_ms, kernel, whole)
                    for piece in pieces]
            if len(work) == 1:
                _bin_units(*work[0])
            else:  # pieces fill disjoint rows; HDF5 reads and numpy release the GIL, so they overlap
                with ThreadPoolExecutor(max_workers=worker_count()) as pool:
                    list(pool.map(lambda args: _bin_units(*args), work))
            missing = {}  # per session: the grid rows its trials do not fill
            for out, local in members:
                session = nwb.unit_session[local]
                if session not in missing:
                    present = np.zeros(n_rows + 1, dtype=bool)
                    present[np.minimum(trial_slot[nwb.trial_session == session], n_rows)] = True
                    missing[session] = ~present[:n_rows]
                # Presentations the unit's block does not have are unknown, not silent.
                grid_rows[out * n_rows:(out + 1) * n_rows][missing[session]] = np.nan
        return grid

    def _repeats_per_stimulus(self, stimuli: list[int]) -> int:
        bad = [s for s in stimuli if not 0 <= s < 32]
        if bad:
            raise IndexError(f"stimulus {bad[0]} out of range 0-31")
        if self._n_repeats is None:  # straight from the file: cheaper than building the stimuli table
            self._n_repeats = self._files[0].h5["processing/stimuli/stimuli/n_repeats"][:]
        n_repeats = {int(self._n_repeats[s]) for s in stimuli}
        if len(n_repeats) != 1:
            raise ValueError("the stimuli asked for have different repeat counts (natural 0-19 have 20, DRC 20-31 "
                             "have 5); ask for them in separate calls")
        return n_repeats.pop()

    # -- stimuli
    def _template(self, stimulus: int, column: str) -> Any:
        name = self.stimuli.loc[int(stimulus), column]
        if not name:
            kind = column.split("_")[0]
            raise KeyError(f"stimulus {stimulus} has no stored {kind} (dynamic random chords have none)")
        return self._files[0].h5[f"stimulus/templates/{name}"]

    def spectrogram(self, stimulus: int) -> np.ndarray:
        """The stored 34-band spectrogram, float32, shape (34, 999)."""
        data = self._template(stimulus, "spectrogram_series")["data"][:]
        return np.ascontiguousarray(data[:, 0, :].T, dtype=np.float32)

    def waveform(self, stimulus: int) -> np.ndarray:
        """The stored waveform at :attr:`audio_rate`, cropped or zero padded to the 4995-ms window (float32)."""
        series = self._template(stimulus, "waveform_series")
        rate = float(series["starting_time"].attrs["rate"])
        n_samples = int(round(RESPONSE_WINDOW_MS / 1000.0 * rate))
        data = series["data"][:n_samples].astype(np.float32)
        if data.size < n_samples:
            data = np.concatenate([data, np.zeros(n_samples - data.size, dtype=np.float32)])
        return data

    # -- neo
    def to_neo(self, unit: int | str | None = None) -> "Any":
        """A ``neo.Block``: one Segment per trial with its SpikeTrains on the trial clock (ms after onset).

        Each Segment has an Epoch for its stimulus presentation. ``unit`` limits the
        block to one unit (and the trials of its recording block).
        """
        import neo
        import quantities as pq

        positions = self._unit_positions(None if unit is None else [unit])
        block = neo.Block(name="NS1", description="NS1 responses, one segment per presentation")
        names = self.units["unit_name"]
        by_file: dict[int, list[int]] = {}
        for position in positions:
            by_file.setdefault(self._unit_refs[position].file, []).append(position)
        for f_index, members in by_file.items():
            nwb = self._files[f_index]
            locals_ = [self._unit_refs[p].local for p in members]
            times, trials, bounds = nwb.spikes(locals_)
            times_list = [times[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            trials_list = [trials[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            sessions = {nwb.unit_session[local] for local in locals_}
            stimuli = self.stimuli
            for row in np.flatnonzero(np.isin(nwb.trial_session, list(sessions))):
                length_ms = float(nwb.trial_length_ms[row])
                stimulus = int(nwb.trial_stimulus[row])
                segment = neo.Segment(name=f"trial {row}", index=int(row))
                segment.annotate(stimulus_index=stimulus, repeat_index=int(nwb.trial_repeat[row]),
                                 session_id=str(nwb.trial_session[row]))
                segment.epochs.append(neo.Epoch(times=[0.0] * pq.ms, durations=[length_ms] * pq.ms,
                                                labels=[stimuli.loc[stimulus, "stimulus_name"]], name="stimulus"))
                for position, local, times, trials in zip(members, locals_, times_list, trials_list):
                    if nwb.unit_session[local] != nwb.trial_session[row]:
                        continue
                    spikes = np.sort(nwb.relative_ms(times[trials == row], trials[trials == row]))
                    stop = max(length_ms, float(spikes[-1]) + 1e-3 if spikes.size else 0.0)
                    segment.spiketrains.append(neo.SpikeTrain(spikes * pq.ms, t_start=0.0 * pq.ms,
                                                              t_stop=stop * pq.ms, name=str(names[position])))
                block.segments.append(segment)
        return block


def open(path: str | os.PathLike) -> Recording:  # noqa: A001  (ns1nwb.open mirrors builtins.open on purpose)
    """Open a pooled ns1nwb file, a folder of per-session files, or an http(s) URL.

    Parameters
    ----------
    path : str or PathLike
        ``ns1.nwb``, a folder searched recursively for ``*.nwb``, or a URL.

    Returns
    -------
    Recording
        Close it, or use it in a ``with`` block.
    """
    text = str(path)
    if not text.startswith(("http://", "https://")) and Path(text).is_dir():
        sources: list[str | os.PathLike] = sorted(Path(text).rglob("*.nwb"))
        if not sources:
            raise NwbContentError(f"{text}: folder has no .nwb files")
    else:
        sources = [path]
    files: list[_File] = []
    try:
        for source in sources:
            handle, closers = _open_h5(source)
            try:
                files.append(_File(source, handle, closers))
            except Exception:
                for closer in reversed(closers):
                    closer.close()
                raise
    except Exception:
        for nwb in files:
            nwb.close()
        raise
    return Recording(files)

