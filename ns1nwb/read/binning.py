"""Binning the spikes of many units of one file into a grid, in threads (h5py reads and numpy release the
GIL, so pieces of units overlap reading and binning)."""

from __future__ import annotations

import numpy as np

from ..workers import worker_count
from .files import BULK_READ_UNITS, NwbFile
from .grid import add_binned, exact_in_float32

__all__ = ["split_for_threads", "bin_units"]


def split_for_threads(n_units: int) -> list[np.ndarray]:
    """Unit positions in consecutive pieces: one for a few units, else three per thread (reads overlap binning)."""
    threads = worker_count()
    if n_units <= BULK_READ_UNITS or threads == 1:
        return [np.arange(n_units)]
    return [piece for piece in np.array_split(np.arange(n_units), 3 * threads) if piece.size]


def bin_units(nwb: "NwbFile", members: list[tuple[int, int]], trial_slot: np.ndarray, grid_rows: np.ndarray,
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
    if exact_in_float32(kernel):  # the default: all these units in one pass, summed in place
        add_binned(grid_rows, relative, rows, dt_ms, kernel, presorted=bool(in_order.all()))
        return
    for i, (out, _) in enumerate(members):  # float64 sums: one unit at a time bounds the scratch memory
        a, b = bounds[i], bounds[i + 1]
        add_binned(grid_rows[out * n_rows:(out + 1) * n_rows], relative[a:b], rows[a:b] - out * n_rows,
                    dt_ms, kernel, presorted=bool(in_order[a:b - 1].all()))

