"""Checking and normalising the arguments of :class:`~ns1nwb.Recording` methods (units, stimuli, windows).

Every bad argument is refused with a one-line error before any data is read: a float
where an index is expected is never truncated, a window is never silently ignored.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..constants import RESPONSE_WINDOW_MS

__all__ = ["as_index", "digits_as_int", "unit_positions", "stimulus_indices", "check_window_ms"]


def as_index(value: Any, what: str) -> int:
    """``value`` as a Python int, refusing anything that is not an integer.

    Floats are refused even when integral (``3.0``), as Python and numpy refuse them as
    indices: a float index is usually a computation gone wrong (a mean, a NaN-filled
    column), and truncating it would silently select another unit or stimulus.

    Raises
    ------
    TypeError
        ``value`` is a float, a bool, a string or anything else that is not an integer.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        kind = type(value).__name__
        hint = " (floats are refused, even integral ones: pass int)" if isinstance(value, numbers.Real) else ""
        raise TypeError(f"{what} must be an integer, got {value!r} ({kind}){hint}")
    return int(value)


def digits_as_int(value: Any) -> Any:
    """A command-line argument as an index when it is one: ``"3"`` or ``"-1"`` -> int, anything else unchanged
    (a name, or a value that is not text)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def unit_positions(units: Any, n_units: int, names: Callable[[], Sequence[str]]) -> list[int]:
    """Rows of ``rec.units`` asked for by ``units`` (see :meth:`Recording.response_grid`), in the order asked.

    Parameters
    ----------
    units : None, int, str, sequence of int or str, or boolean mask (list, array or pandas Series)
    n_units : int
    names : callable
        Gives the ``unit_name`` of every row; called only when a name is asked for.
    """
    if units is None:
        return list(range(n_units))
    if isinstance(units, (str, numbers.Integral, numbers.Real)) and not isinstance(units, np.ndarray):
        units = [units]
    values = units.to_numpy() if hasattr(units, "to_numpy") else np.asarray(list(units), dtype=object)
    if values.ndim != 1:
        raise ValueError(f"units must be one-dimensional, got shape {values.shape}")
    items = list(values)
    flags = [isinstance(v, (bool, np.bool_)) for v in items]
    if any(flags) and not all(flags) and all(flag or _missing(v) for flag, v in zip(flags, items)):
        raise ValueError(f"the boolean unit mask holds {flags.count(False)} missing values (NaN: a column that some "
                         "of the files lack); fill them first, e.g. mask.fillna(False)")
    if values.dtype == bool or (items and all(flags)):
        if len(items) != n_units:
            raise ValueError(f"a boolean unit mask needs {n_units} values, got {len(items)}")
        return [int(i) for i in np.flatnonzero(np.asarray(items, dtype=bool))]
    positions = []
    name_list: list[str] | None = None
    for value in items:
        if isinstance(value, str):
            name_list = list(names()) if name_list is None else name_list
            if value not in name_list:
                raise KeyError(f"no unit named {value!r}")
            positions.append(name_list.index(value))
            continue
        position = as_index(value, "a unit index")
        if not -n_units <= position < n_units:
            raise IndexError(f"unit index {position} out of range for {n_units} units")
        positions.append(position % n_units)
    return positions


def _missing(value: Any) -> bool:
    """None, NaN or pandas' NA: what pandas puts in a column that some of the joined tables lack."""
    return value is None or type(value).__name__ == "NAType" or (isinstance(value, float) and math.isnan(value))


def stimulus_indices(stimuli: Iterable[Any], n_stimuli: int,
                     names: Callable[[], Sequence[str]] | None = None) -> list[int]:
    """The stimulus indices asked for, in order, duplicates kept; each an integer in ``[0, n_stimuli)``.

    Parameters
    ----------
    stimuli : iterable of int (or of str when ``names`` is given)
    n_stimuli : int
    names : callable, optional
        Gives the ``stimulus_name`` of every index (``nat01``...); without it, names are refused.
    """
    if isinstance(stimuli, (str, bytes)):
        raise TypeError(f"stimuli must be integers (stimulus indices), got {stimuli!r}")
    if isinstance(stimuli, numbers.Number):
        stimuli = [stimuli]
    name_list: list[str] | None = None
    indices = []
    for value in stimuli:
        if isinstance(value, str) and names is not None:
            name_list = list(names()) if name_list is None else name_list
            if value not in name_list:
                raise KeyError(f"no stimulus named {value!r} (give an index 0-{n_stimuli - 1} or a name "
                               f"{name_list[0]}..)")
            indices.append(name_list.index(value))
        else:
            indices.append(as_index(value, "a stimulus index"))
    if not indices:
        raise ValueError("stimuli is empty")
    bad = [s for s in indices if not 0 <= s < n_stimuli]
    if bad:
        raise IndexError(f"stimulus {bad[0]} out of range 0-{n_stimuli - 1}")
    return indices


def check_window_ms(window_ms: Any) -> float:
    """The smoothing window in ms: a finite number in ``[0, 4995]`` (the response window)."""
    if isinstance(window_ms, (bool, np.bool_)) or not isinstance(window_ms, numbers.Real):
        raise TypeError(f"window_ms must be a number of milliseconds, got {window_ms!r}")
    value = float(window_ms)
    if not math.isfinite(value) or not 0 <= value <= RESPONSE_WINDOW_MS:
        raise ValueError(f"window_ms={window_ms!r}: the smoothing window must be a finite number of ms "
                         f"from 0 to the {RESPONSE_WINDOW_MS}-ms response window")
    return value
