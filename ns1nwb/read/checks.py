"""What :class:`~ns1nwb.read.files.NwbFile` checks when a file is opened, before and after reading its small tables.

A file that breaks one of these is damaged (edited, truncated, written by something else): each check raises
:class:`NwbContentError` naming the file and what is wrong, in one line. The shapes are checked first, from the
dataset headers, so that a damaged column millions of entries long is refused without reading it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import NwbContentError

__all__ = ["damaged", "table_length", "check_ragged_ends", "check_spike_ends", "check_trials", "check_stimulus_ids"]


def damaged(source: str, what: str) -> NwbContentError:
    """The damaged-file error: ``<source>: damaged ns1nwb file (<what>)``."""
    return NwbContentError(f"{source}: damaged ns1nwb file ({what})")


def table_length(source: str, table: str, columns: dict[str, Any], integers: tuple[str, ...] = (), *,
                 per: str | None = None) -> int:
    """The number of rows of a table whose ``columns`` (h5py datasets) must each hold one value per row.

    The rows are counted by the table's ``id`` column when it is among ``columns``, else by the first column;
    ``per`` names a row in messages ("spike"; by default a row of the table). Only the shapes and types are
    looked at: nothing is read.

    Raises
    ------
    NwbContentError
        A column that is not one-dimensional, of another length, or (``integers``) not of integers.
    """
    for name, column in columns.items():
        if column.ndim != 1:
            raise damaged(source, f"{table}/{name} is {column.ndim}-D (shape {column.shape}), not one value per "
                                  f"{per or 'row of ' + table}")
        if name in integers and column.dtype.kind not in "iu":
            raise damaged(source, f"{table}/{name} holds {column.dtype}, not integers")
    counter = "id" if "id" in columns else next(iter(columns))
    n_rows = columns[counter].shape[0]
    for name, column in columns.items():
        if column.shape[0] != n_rows:
            rows = f"{per}s ({table}/{counter})" if per else f"rows of {table}/{counter}"
            raise damaged(source, f"{table}/{name} has {column.shape[0]:,} values for the {n_rows:,} {rows}")
    return n_rows


def check_ragged_ends(source: str, index: Any, data: Any) -> None:
    """A ragged column's index (``units/spike_times_index``) ends at its data's length: its last value is read
    alone, so that an index that does not fit is refused before it is read whole."""
    n_values = data.shape[0]
    last = int(index[index.shape[0] - 1]) if index.shape[0] else 0
    if last != n_values:
        raise damaged(source, f"{index.name} ends at {last:,}, not at the {n_values:,} values of {data.name}")


def check_spike_ends(source: str, spike_ends: np.ndarray, trial_ends: np.ndarray) -> None:
    """The spike index read whole: non-decreasing from 0, and the same as the spike-trial index."""
    if spike_ends.size and (spike_ends[0] < 0 or np.any(np.diff(spike_ends) < 0)):
        raise damaged(source, "units/spike_times_index is not a non-decreasing index into units/spike_times")
    if not np.array_equal(trial_ends, spike_ends):
        raise damaged(source, "units/spike_trial_index does not match units/spike_times_index")


def check_trials(source: str, names: list[Any], block: np.ndarray, stimulus: np.ndarray, repeat: np.ndarray,
                 n_stimuli: int) -> None:
    """Each trial's stimulus is a row of the stimuli table, and each (recording block, i.e. ``session_id``;
    stimulus) has repeats 0 to k - 1, each once: the ranks the writer gives a block's presentations of a sound.
    ``block`` is each trial's session as a number, ``names[block]`` its ``session_id``.

    The grid and ``trial_spike_times_ms`` find a trial by (block, stimulus, repeat): two trials with one key
    would merge into one grid row or give one's spikes for the other, and a stray repeat index (2000 among 20
    presentations) would make every grid 100 times too tall.
    """
    if not stimulus.size:
        return
    bad = np.flatnonzero((stimulus < 0) | (stimulus >= n_stimuli))
    if bad.size:
        raise damaged(source, f"trial row {bad[0]} has stimulus_index {stimulus[bad[0]]}, not a row of the "
                              f"{n_stimuli}-row stimuli table")
    if repeat.min() < 0:
        row = int(np.argmin(repeat))
        raise damaged(source, f"trial row {row} has repeat_index {repeat[row]}")
    order = np.lexsort((repeat, stimulus, block))
    key, repeats = block[order] * n_stimuli + stimulus[order], repeat[order]
    twice = np.flatnonzero((key[1:] == key[:-1]) & (repeats[1:] == repeats[:-1]))
    if twice.size:
        first, second = order[twice[0]], order[twice[0] + 1]
        raise damaged(source, f"trial rows {first} and {second} are both session {names[block[first]]} stimulus "
                              f"{stimulus[first]} repeat {repeat[first]}")
    # Distinct keys: each (block, stimulus)'s repeats are 0 to k - 1 unless one is k or more.
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    sizes = np.diff(np.concatenate([starts, [key.size]]))
    too_big = np.flatnonzero(repeats >= np.repeat(sizes, sizes))
    if too_big.size:
        row = order[too_big[0]]
        n_presentations = int(np.count_nonzero(key == key[too_big[0]]))
        raise damaged(source, f"trial row {row} is session {names[block[row]]} stimulus {stimulus[row]} repeat "
                              f"{repeat[row]}, but its session has {n_presentations} presentations of that stimulus "
                              "(repeats count from 0)")


def check_stimulus_ids(source: str, ids: np.ndarray) -> None:
    """The stimuli table's ids are the stimulus indices 0 to n - 1, in order."""
    if not np.array_equal(ids, np.arange(ids.size)):
        raise damaged(source, f"processing/stimuli/stimuli/id is not 0-{ids.size - 1} in order")
