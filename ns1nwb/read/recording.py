"""The :class:`Recording` (units, stimuli, trials, spikes, response grids, Neo) and :func:`open`.

:func:`open` takes a pooled ``.nwb`` file, a folder of per-session files or an
http(s) URL. It reads with h5py directly (no pynwb object tree), lazily: opening
reads only the small tables; the spike arrays are read when a grid or a unit's
spikes are asked for, one slice of each per run of units next to each other.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ..constants import DEFAULT_DT_MS, DEFAULT_WINDOW_MS, N_NATURAL
from .files import NwbFile, NwbFileHandle, as_text, open_files
from .grid import Binning, bin_layout, hanning_kernel
from .selection import as_index, check_grid_fits, check_rate_hz, check_smooth, check_window_ms, stimulus_indices, \
    unit_positions
from .sounds import cochleagram_on_grid, stored_spectrogram, window_samples

__all__ = ["Recording", "open"]

#: Spikes and grid values binned in one go, at most (a few MB of temporary arrays; the float64 sums of a
#: kernel not in 1/256ths take 8 bytes a value); a unit with more is binned alone.
SPIKES_PER_STEP = 1 << 16
VALUES_PER_STEP = 1 << 22


@dataclass(frozen=True)
class _UnitRef:
    file: int
    local: int


class Recording:
    """The NS1 units, stimuli and trials of one pooled file or a folder of per-session files.

    Use :func:`ns1nwb.open` to make one; close it (or use ``with``) when done.
    """

    def __init__(self, files: list[NwbFile], source: str | None = None):
        self._files = files
        self._source = source if source is not None else (files[0].source if files else "recording")
        self._closed = False
        self._units_df: Any = None
        self._stimuli_df: Any = None
        order = []
        for f_index, nwb in enumerate(files):
            rows = nwb.metadata_row
            for local in range(nwb.n_units):
                # Metadata units first, by metadata row; then the others (row -1: clusters the metadata
                # does not name, or a file without the column) in file order.
                row = int(rows[local]) if rows is not None else -1
                order.append((0, row, f_index, local) if row >= 0 else (1, 0, f_index, local))
        order.sort()
        self._unit_refs = [_UnitRef(f, local) for *_, f, local in order]

    # -- context manager
    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close every underlying file; every method but ``close`` then raises ValueError."""
        self._closed = True
        files, self._files = self._files, []
        with contextlib.ExitStack() as stack:  # every file closed even if one raises (raised at the end)
            for nwb in files:
                stack.callback(nwb.close)

    def _check_open(self) -> None:
        if self._closed:  # not the IndexError of an empty file list
            raise ValueError(f"{self._source}: the recording is closed (open it again with ns1nwb.open)")

    def __repr__(self) -> str:
        if self._closed:
            return f"<ns1nwb.Recording: {self._source}, closed>"
        return f"<ns1nwb.Recording: {len(self._unit_refs)} units from {len(self._files)} file(s)>"

    @property
    def files(self) -> list[NwbFileHandle]:
        """The open files behind this recording: ``(source, h5)`` pairs, ``h5`` an open ``h5py.File``."""
        self._check_open()
        return [NwbFileHandle(nwb.source, nwb.h5) for nwb in self._files]

    # -- tables
    @property
    def units(self) -> "Any":
        """pandas DataFrame, one row per unit, every per-unit column (plus ``n_spikes``).

        Order: the units of the metadata by their metadata row (``metadata_row``), then any other
        clusters in file order. Per-spike and ragged columns (``spike_times``, ``spike_trial``,
        ``obs_intervals``, ``electrodes``) are not shown.
        """
        self._check_open()
        if self._units_df is None:
            import pandas as pd

            tables = [nwb.unit_table() for nwb in self._files]
            # One concatenation and one take, not a row at a time (0.2 s for the 279-unit file).
            offsets = np.cumsum([0] + [len(table) for table in tables])
            order = [offsets[ref.file] + ref.local for ref in self._unit_refs]
            combined = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
            self._units_df = combined.iloc[order].reset_index(drop=True)
        return self._units_df

    @property
    def stimuli(self) -> "Any":
        """pandas DataFrame of the 32 stimuli, indexed by stimulus index."""
        self._check_open()
        if self._stimuli_df is None:
            import pandas as pd

            nwb = self._files[0]
            table = nwb.h5["processing/stimuli/stimuli"]
            with nwb.readable():
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
        return self._files[0].template_rate(names[0])

    # -- unit selection
    def _unit_positions(self, units: Any) -> list[int]:
        self._check_open()
        return unit_positions(units, len(self._unit_refs), lambda: list(self.units["unit_name"]))

    def _unit_position(self, unit: int | str) -> int:
        if isinstance(unit, (list, tuple, np.ndarray)) or hasattr(unit, "to_numpy"):
            raise TypeError(f"one unit is asked for (an index or a unit_name), got {type(unit).__name__}")
        return self._unit_positions([unit])[0]

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

        Raises
        ------
        KeyError
            The unit was not recorded in that presentation (its block has no such repeat, or the
            unit's cluster covers only part of the block: see ``obs_intervals``).
        """
        ref = self._unit_refs[self._unit_position(unit)]
        nwb = self._files[ref.file]
        stimulus = stimulus_indices([stimulus], nwb.n_stimuli)[0]
        repeat = as_index(repeat, "repeat")
        row = nwb.trial_row(nwb.unit_session[ref.local], stimulus, repeat)
        if row is None or not nwb.observed(ref.local)[row]:
            raise KeyError(f"unit {unit!r} has no presentation of stimulus {stimulus} repeat {repeat}")
        times, trials = nwb.spikes(ref.local, ref.local + 1)
        mine = trials == row
        return np.sort(nwb.relative_ms(times[mine], trials[mine]))

    def response_grid(self, units: Any = None, stimuli: Iterable[int] = range(N_NATURAL),
                      dt_ms: float = DEFAULT_DT_MS, smooth: bool = True,
                      window_ms: float = DEFAULT_WINDOW_MS) -> np.ndarray:
        """Binned (and smoothed) responses, exactly as the seed computes them.

        Parameters
        ----------
        units : None, int, str, sequence of int/str, slice, or boolean mask
            None for all units (in :attr:`units` order); e.g. ``rec.units.is_good`` for the 73.
            Indices must be integers: floats are refused (``TypeError``), even integral ones.
            A unit asked for twice appears twice. A boolean pandas Series is applied by its index,
            as pandas does (``rec.units.sort_values("depth_um").is_good`` selects the good units);
            an index that is not the rows of :attr:`units` is refused. A slice selects rows by position.
        stimuli : iterable of int, default range(20)
            Stimulus indices (integers, floats refused), in the order wanted; a stimulus asked
            for twice appears twice. Natural sounds and DRCs may be mixed (see Returns).
        dt_ms : float, whole milliseconds from 1 to 4995, default 5
        smooth : bool, default True
            Apply the unnormalised Hanning kernel (``window_ms`` wide); True or False only.
        window_ms : float, default 21
            A finite number of ms from 0 to 4995 (the response window); checked even when
            ``smooth`` is False.

        Returns
        -------
        np.ndarray, float32, shape (n_units, n_stimuli, R, T)
            T = floor(4995 / dt_ms). R = the most repeats among what was asked: the largest
            ``repeat_index + 1`` among the presentations of the asked stimuli that the asked units
            were recorded in (20 for natural sounds and 5 for DRCs in the release's metadata units;
            fewer for clusters recorded with fewer repeats; 0 when none was presented). A unit was
            recorded in a trial of its block (``session_id``) that lies inside one of its
            ``obs_intervals`` (one per recorded sweep). Rows a unit was not recorded in (fewer
            repeats, a stimulus not presented) are NaN: known to be missing, never zeros.

        Raises
        ------
        TypeError, ValueError, IndexError, KeyError
            A bad unit, stimulus, ``dt_ms``, ``smooth`` or ``window_ms``, before anything is read.
        MemoryError
            The grid would not fit in the memory available (one line: its size, and how to ask for less).
        """
        positions = self._unit_positions(units)
        asked = stimulus_indices(stimuli, self._files[0].n_stimuli)
        smooth = check_smooth(smooth)
        check_window_ms(window_ms)
        _, n_bins = bin_layout(dt_ms)
        kernel = hanning_kernel(window_ms, dt_ms) if smooth else None
        # Each stimulus is binned once; one asked for twice is copied afterwards (below).
        distinct = list(dict.fromkeys(asked))
        by_file: dict[int, list[tuple[int, int]]] = {}
        for out_index, position in enumerate(positions):
            ref = self._unit_refs[position]
            by_file.setdefault(ref.file, []).append((out_index, ref.local))
        n_repeats = self._most_repeats(by_file, distinct)
        n_stimuli = len(distinct)
        # Estimated before allocating: the grid, and its copy when a stimulus is asked for twice.
        per_stimulus = len(positions) * n_repeats * n_bins * np.dtype(np.float32).itemsize
        check_grid_fits((len(positions), len(asked), n_repeats, n_bins),
                        per_stimulus * (n_stimuli + (len(asked) if len(asked) != n_stimuli else 0)))
        # Not zeros: every value of each unit's rows is written when its spikes are binned.
        grid = np.empty((len(positions), n_stimuli, n_repeats, n_bins), dtype=np.float32)
        if grid.size:
            self._fill_grid(grid, by_file, distinct, dt_ms, kernel)
        if len(distinct) != len(asked):
            grid = grid[:, [distinct.index(s) for s in asked]]
        return grid

    def _most_repeats(self, by_file: dict[int, list[tuple[int, int]]], stimuli: list[int]) -> int:
        """R: the largest repeat_index + 1 among the asked units' recorded presentations of ``stimuli``."""
        most = 0
        for f_index, members in by_file.items():
            nwb = self._files[f_index]
            asked = np.isin(nwb.trial_stimulus, stimuli)
            recorded = np.zeros_like(asked)
            for local in {local for _, local in members}:
                recorded |= nwb.observed(local)
            mine = asked & recorded
            if mine.any():
                most = max(most, int(nwb.trial_repeat[mine].max()) + 1)
        return most

    def _fill_grid(self, grid: np.ndarray, by_file: dict[int, list[tuple[int, int]]], stimuli: list[int],
                   dt_ms: float, kernel: np.ndarray | None) -> None:
        n_units, n_stimuli, n_repeats, n_bins = grid.shape
        n_rows = n_stimuli * n_repeats
        grid_rows = grid.reshape(n_units * n_rows, n_bins)
        binning = Binning(dt_ms, kernel)
        for f_index, members in by_file.items():
            nwb = self._files[f_index]
            stimulus_slot = np.full(max(nwb.n_stimuli, int(nwb.trial_stimulus.max(initial=0)) + 1), -1, np.int64)
            stimulus_slot[stimuli] = np.arange(n_stimuli)
            asked = (stimulus_slot[nwb.trial_stimulus] >= 0) & (nwb.trial_repeat < n_repeats)
            # Each trial's row among a unit's rows; the onset of a trial not asked for is NaN, so that its
            # spikes are dropped (a row past the unit's would be the next unit's).
            trial_slot = np.where(asked, stimulus_slot[nwb.trial_stimulus] * n_repeats + nwb.trial_repeat, 0)
            onset_s = np.where(asked, nwb.trial_start_s, np.nan)
            row_or_past = np.where(asked, trial_slot, n_rows)  # n_rows: not one of the unit's rows
            n_spikes = nwb.spike_ends - nwb.spike_starts
            for run in _runs(members):
                # One read of each spike array per run of units, then steps of it binned in memory.
                (out, first), last = run[0], run[-1][1]
                times, trials = nwb.spikes(first, last + 1)
                begin = nwb.spike_starts[first]
                for step in _steps(run, n_spikes, n_rows * n_bins):
                    (out, first), last = step[0], step[-1][1]
                    mine = slice(nwb.spike_starts[first] - begin, nwb.spike_ends[last] - begin)
                    # np.take: quicker than indexing with the file's small unsigned integers.
                    row = np.repeat(np.arange(len(step)) * n_rows, n_spikes[first:last + 1])
                    row += np.take(trial_slot, trials[mine])
                    relative_ms = np.take(onset_s, trials[mine])
                    np.subtract(times[mine], relative_ms, out=relative_ms)
                    relative_ms *= 1000.0
                    sums = binning.smoothed(binning.counts(relative_ms, row, len(step) * n_rows))
                    binning.write(sums, grid_rows[out * n_rows:(out + len(step)) * n_rows])
            missing: dict[int, np.ndarray] = {}  # per unit: the grid rows its recorded trials do not fill
            for out, local in members:
                if local not in missing:
                    present = np.zeros(n_rows + 1, dtype=bool)
                    present[row_or_past[nwb.observed(local)]] = True
                    missing[local] = ~present[:n_rows]
                # Presentations the unit was not recorded in (fewer repeats, a set not played) are
                # unknown, not silent.
                grid_rows[out * n_rows:(out + 1) * n_rows][missing[local]] = np.nan

    # -- stimuli
    def _template(self, stimulus: int, column: str) -> tuple[NwbFile, str]:
        """(the file, the name of stimulus ``stimulus``'s template in ``column`` of the stimuli table)."""
        self._check_open()
        stimulus = stimulus_indices([stimulus], self._files[0].n_stimuli)[0]
        name = self.stimuli.loc[stimulus, column]
        if not name:
            kind = column.split("_")[0]
            raise KeyError(f"stimulus {stimulus} has no stored {kind} (dynamic random chords have none)")
        return self._files[0], str(name)

    def spectrogram(self, stimulus: int, dt_ms: float | None = None) -> np.ndarray:
        """The sound's 34-band 'spec-log' cochleagram (Rahman et al. 2019, 2020), as stored or at any whole-ms step.

        Parameters
        ----------
        stimulus : int
            Stimulus index, 0-19 (the dynamic random chords 20-31 have neither spectrogram nor waveform).
        dt_ms : None or float, whole milliseconds
            None: what the file stores (the published ``X_nfht`` when the raw tree had ``test_data_5ms.mat``,
            else the same recipe computed at conversion from the native wav samples). A whole number of ms:
            computed now with :func:`ns1nwb.cochleagram` from the stored waveform, so that frame n lines up
            with bin n of ``response_grid(dt_ms=dt_ms)``; up to half the sound (a frame spans 2 x dt_ms):
            2500 ms for the NS1 sounds, whose T is then 1.

        Returns
        -------
        np.ndarray, float32, shape (34, T), dB re 1 (amplitude of the pascal samples), floored at -70 dB
            Row k is the band centred at ``ns1nwb.cochleagram_bands()[0][k]`` (500 Hz * 2**(k/6)). Stored:
            T = 999. Computed: T = floor(4995 / dt_ms), like the response grid. The recipe gives
            ``(N - h) // h`` frames from the N samples of the whole stored waveform, hop ``h = round(dt_ms * rate
            / 1000)``: frames past T are cut, and missing ones are padded at the end with -70 dB frames
            (silence). For the 244,140-sample wavs: at 48000 Hz (N = 240,000, h = 48 * dt_ms) 1 ms
            gives 4999 frames (4 cut), 5 ms 999, 10 ms 499, 20 ms 249 (none cut or padded); native (the default,
            N = 244,140 at 48828 Hz) 1 ms gives 4981 (14 padded), 5 ms 999 (h = 244), 10 ms 499 (h = 488), 20 ms 248
            (h = 977, 1 padded).

        Notes
        -----
        What the stored waveform's rate (``--audio-rate`` at conversion, :attr:`audio_rate`) means here:

        - 48000 Hz (``--audio-rate 48000``): the hop is exactly ``dt_ms`` on the true clock, so frame n covers
          ``[n * dt_ms, (n + 2) * dt_ms)`` ms after onset, aligned with response bin n. This is not the
          authors' framing (their frames drift, see below), and the samples were resampled (low-passed below
          24 kHz: the top band, feet 20.2-25.4 kHz, loses what lies above): at 5 ms the values differ from the
          published ones by 0.2 dB (median) over the first 100 frames and 2 dB over the last 100 (95th
          percentile 5 dB, tens of dB at sharp onsets), nearly all from the authors' 2.9-ms drift.
        - 48828.125 Hz (the default, the original samples): computed at the header rate 48828 Hz that
          MATLAB's ``audioread`` reported to the authors, which reproduces their recipe to float precision (at
          5 ms: the published numbers, and the stored spectrogram a conversion computes). The hop is then ``round(dt_ms * 48.828)``
          samples, ``h / 48.828125`` ms (4.997 ms at 5 ms, 1.0035 ms at 1 ms), so frame n drifts from bin n,
          by -2.9 ms at 5 ms and +17.6 ms at 1 ms by the window's end, as in the authors' recipe.
        - Any other rate is the recipe at that rate; below about 40.3 kHz the top band covers no FFT bin and
          this raises ValueError.

        Raises
        ------
        KeyError
            The stimulus has no stored spectrogram (``dt_ms=None``) or no stored waveform (``dt_ms`` given).
        ValueError
            ``dt_ms`` is not a positive whole number of ms, is longer than half the sound (2500 ms for the NS1
            sounds), or the stored rate is too low for the 34 bands.
        """
        if dt_ms is None:
            return stored_spectrogram(*self._template(stimulus, "spectrogram_series"))
        bin_layout(dt_ms)  # before any reading: a bad step is the caller's error whatever the stimulus
        try:
            nwb, name = self._template(stimulus, "waveform_series")
        except KeyError:
            raise KeyError(f"stimulus {stimulus} has no stored waveform to compute a cochleagram from at "
                           f"dt_ms={dt_ms!r} (dt_ms=None gives the stored spectrogram, if any)") from None
        return cochleagram_on_grid(nwb, name, dt_ms, f"stimulus {stimulus}")

    def waveform(self, stimulus: int, rate_hz: float | None = None) -> np.ndarray:
        """The sound's waveform (pascals, inferred), cropped or zero padded to the 4995-ms window (float32).

        Parameters
        ----------
        stimulus : int
            Stimulus index, 0-19.
        rate_hz : float, optional
            None: the stored samples at :attr:`audio_rate`. A rate: the whole stored waveform resampled with
            :func:`ns1nwb.resample.sinc_resample`, torchaudio's windowed-sinc resampler as deepSTRF applies it,
            then cut to the window. Native samples go in at the wav header's 48828 Hz as deepSTRF reads them
            (on the true 48828.125-Hz clock the result lags by 2.6 ppm, 13 us at 5 s). A positive finite
            number (``ValueError`` otherwise).
        """
        if rate_hz is not None:
            rate_hz = check_rate_hz(rate_hz)
        return window_samples(*self._template(stimulus, "waveform_series"), rate_hz)

    # -- neo
    def to_neo(self, unit: int | str | None = None) -> "Any":
        """A ``neo.Block``: one Segment per trial with its SpikeTrains on the trial clock (ms after onset).

        Each Segment has an Epoch for its stimulus presentation. ``unit`` limits the
        block to one unit (and the trials it was recorded in).
        """
        from .neo_export import to_neo_block

        positions = self._unit_positions(None) if unit is None else [self._unit_position(unit)]
        by_file: dict[int, list[tuple[int, str]]] = {}
        names = self.units["unit_name"]
        for position in positions:
            ref = self._unit_refs[position]
            by_file.setdefault(ref.file, []).append((ref.local, str(names[position])))
        return to_neo_block([(self._files[f], members) for f, members in by_file.items()],
                            self.stimuli["stimulus_name"])


def _runs(members: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """``members`` ((grid position, unit in file) pairs, in grid order) in runs of units next to each other both
    in the grid and in the file: their spikes are one slice of each spike array, their rows one block."""
    runs: list[list[tuple[int, int]]] = []
    for out, local in members:
        if runs and (out, local) == (runs[-1][-1][0] + 1, runs[-1][-1][1] + 1):
            runs[-1].append((out, local))
        else:
            runs.append([(out, local)])
    return runs


def _steps(run: list[tuple[int, int]], n_spikes: np.ndarray, n_values: int) -> list[list[tuple[int, int]]]:
    """A run (see :func:`_runs`) in steps binned together: up to :data:`SPIKES_PER_STEP` spikes and
    :data:`VALUES_PER_STEP` grid values (``n_values`` a unit); a unit with more is a step alone."""
    steps: list[list[tuple[int, int]]] = []
    total = 0
    for out, local in run:
        if steps and total + n_spikes[local] <= SPIKES_PER_STEP and (len(steps[-1]) + 1) * n_values <= VALUES_PER_STEP:
            steps[-1].append((out, local))
            total += int(n_spikes[local])
        else:
            steps.append([(out, local)])
            total = int(n_spikes[local])
    return steps


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

    Raises
    ------
    NwbContentError
        ``path`` is not a readable ns1nwb file or folder (missing, not HDF5, truncated, without
        the units, trials or stimuli tables, with inconsistent spike columns), a folder holds one
        recording twice, or a URL does not answer (within seconds) or answers an HTTP error.
        The message names the file or URL.
    """
    return Recording(open_files(path), source=str(path))
