"""The :class:`Recording` (units, stimuli, trials, spikes, response grids, Neo) and :func:`open`.

:func:`open` takes a pooled ``.nwb`` file, a folder of per-session files or an
http(s) URL. It reads with h5py directly (no pynwb object tree), lazily: opening
reads only the small tables; spike data are read in bulk (one read of the data
and of the index) or per unit when a few units are asked for.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..constants import DEFAULT_DT_MS, DEFAULT_WINDOW_MS, N_NATURAL, RESPONSE_WINDOW_MS
from ..exceptions import NwbContentError
from ..workers import worker_count
from .files import NwbFile, NwbFileHandle, as_text, open_h5
from .binning import bin_units, split_for_threads
from .grid import bin_layout, hanning_kernel

__all__ = ["Recording", "open"]


@dataclass(frozen=True)
class _UnitRef:
    file: int
    local: int


class Recording:
    """The NS1 units, stimuli and trials of one pooled file or a folder of per-session files.

    Use :func:`ns1nwb.open` to make one; close it (or use ``with``) when done.
    """

    def __init__(self, files: list[NwbFile]):
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
            frame = pd.DataFrame({name: as_text(table[name][:]) for name in colnames})
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
        _, n_bins = bin_layout(dt_ms)
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
            pieces = split_for_threads(len(members))
            locals_ = np.array([local for _, local in members])
            whole = None
            if len(pieces) > 1 and not np.all(np.diff(locals_) == 1):
                # Scattered units (e.g. rec.units.is_good): one bulk read shared by the pieces,
                # not one per piece.
                whole = nwb.read_all_spikes()
            work = [(nwb, [members[i] for i in piece], trial_slot, grid_rows, n_rows, dt_ms, kernel, whole)
                    for piece in pieces]
            if len(work) == 1:
                bin_units(*work[0])
            else:  # pieces fill disjoint rows; HDF5 reads and numpy release the GIL, so they overlap
                with ThreadPoolExecutor(max_workers=worker_count()) as pool:
                    list(pool.map(lambda args: bin_units(*args), work))
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
    files: list[NwbFile] = []
    try:
        for source in sources:
            handle, closers = open_h5(source)
            try:
                files.append(NwbFile(source, handle, closers))
            except Exception:
                for closer in reversed(closers):
                    closer.close()
                raise
    except Exception:
        for nwb in files:
            nwb.close()
        raise
    return Recording(files)

