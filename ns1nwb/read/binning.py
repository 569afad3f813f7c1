"""Binning the spikes of many units of one file into a grid: the spike arrays are read piece by piece in one
thread, back to back (HDF5 reads one thing at a time), into arrays allocated once, and each piece is binned
in another thread as soon as it arrives (the compiled binning releases the GIL), so reading and binning
overlap. Nothing is allocated or freed while the threads run: unmapping memory stalls every thread's page
faults, and the grid's fresh pages are faulted in as it is filled."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..release.parallel import worker_count  # TEMPORARY until the plain reader lands
from .files import BULK_READ_UNITS, NwbFile
from .grid import fill_rows

__all__ = ["split_for_threads", "bin_file_units"]

#: Pieces per thread: the first piece is binned soon after reading starts, the last soon after it ends.
PIECES_PER_THREAD = 4


def split_for_threads(n_units: int) -> list[np.ndarray]:
    """Unit positions in consecutive pieces: one for a few units, else several per thread."""
    threads = worker_count()
    if n_units <= BULK_READ_UNITS or threads == 1:
        return [np.arange(n_units)]
    return [piece for piece in np.array_split(np.arange(n_units), PIECES_PER_THREAD * threads) if piece.size]


def bin_file_units(nwb: NwbFile, members: list[tuple[int, int]], trial_slot: np.ndarray, grid_rows: np.ndarray,
                   n_rows: int, dt_ms: float, kernel: np.ndarray | None) -> None:
    """Bin the spikes of ``members`` ((output position, unit in file) pairs) into their rows of ``grid_rows``.

    Each unit owns ``n_rows`` consecutive rows, every value of which is written; ``trial_slot``
    maps each trial of the file to its (stimulus, repeat) row among them, or to ``n_rows`` or
    more to drop the trial.
    """
    first_rows = np.array([out * n_rows for out, _ in members], dtype=np.int64)
    locals_ = np.array([local for _, local in members], dtype=np.int64)
    pieces = split_for_threads(len(members))

    def bin_spikes(units: np.ndarray, times: np.ndarray, trials: np.ndarray, starts: np.ndarray,
                   ends: np.ndarray) -> None:
        try:
            fill_rows(grid_rows, times, trials, starts, ends, first_rows[units], nwb.trial_start_s, trial_slot,
                      1000.0, n_rows, dt_ms, kernel)
        except IndexError:  # raised before anything is written; a bad trial row is a damaged file:
            nwb.check_trial_rows(trials[starts.min():ends.max()])  # an error naming it
            raise

    if len(pieces) == 1:
        times, trials, bounds = nwb.spikes(locals_)
        bin_spikes(pieces[0], times, trials, bounds[:-1], bounds[1:])
        return
    if not np.all(np.diff(locals_) == 1):
        # Scattered units (e.g. rec.units.is_good): one bulk read, then the pieces binned in threads.
        times, trials = nwb.read_all_spikes()
        starts, ends = nwb.spike_starts[locals_], nwb.spike_ends[locals_]
        with ThreadPoolExecutor(max_workers=worker_count()) as binners:
            list(binners.map(lambda units: bin_spikes(units, times, trials, starts[units], ends[units]), pieces))
        return
    # Consecutive units (all of them, rec.units.in_metadata): one span of the spike arrays, read piece by
    # piece into its place while the pieces already read are binned.
    offset = int(nwb.spike_starts[locals_[0]])
    starts, ends = nwb.spike_starts[locals_] - offset, nwb.spike_ends[locals_] - offset
    times = np.empty(int(ends[-1]), dtype=np.float64)
    trials = np.empty(int(ends[-1]), dtype=nwb.spike_trial_dtype)

    def read(units: np.ndarray) -> None:
        first, stop = int(starts[units[0]]), int(ends[units[-1]])
        nwb.read_spikes_into(offset + first, offset + stop, times[first:stop], trials[first:stop])

    def bin_piece(units: np.ndarray, reading) -> None:
        reading.result()
        bin_spikes(units, times, trials, starts[units], ends[units])

    # The reader never waits for the binning, nor the binning for more than the piece it needs.
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=worker_count()) as binners:
        reads = [reader.submit(read, units) for units in pieces]
        for done in [binners.submit(bin_piece, units, reading) for units, reading in zip(pieces, reads)]:
            done.result()
