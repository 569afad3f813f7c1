"""Checking and normalising the arguments of :class:`~ns1nwb.Recording` methods (units, stimuli, windows).

Every bad argument is refused with a one-line error before any data is read: a float
where an index is expected is never truncated, a window is never silently ignored, a boolean
pandas Series is aligned by its index, and a grid larger than the memory available is refused
before it is allocated.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..constants import RESPONSE_WINDOW_MS

__all__ = ["as_index", "digits_as_int", "unit_positions", "stimulus_indices", "check_window_ms", "check_smooth",
           "check_rate_hz", "check_grid_fits", "available_memory_bytes"]


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

    The one reading of a unit selection: every argument that takes units comes here.

    Parameters
    ----------
    units : None, int, str, sequence of int or str, slice, or boolean mask (list, array or pandas Series)
        A boolean pandas Series is applied by its index, as pandas does: its labels must be the rows of
        ``rec.units`` (0 to n - 1, in any order), else it is refused. Lists and arrays are applied by position.
    n_units : int
    names : callable
        Gives the ``unit_name`` of every row; called only when a name is asked for.
    """
    if units is None:
        return list(range(n_units))
    if isinstance(units, slice):
        return list(range(n_units)[units])
    if isinstance(units, np.ndarray) and units.ndim == 0:
        units = units[()]  # one value: a unit
    if isinstance(units, (str, numbers.Integral, numbers.Real)) and not isinstance(units, np.ndarray):
        units = [units]
    try:
        values = units.to_numpy() if hasattr(units, "to_numpy") else np.asarray(list(units), dtype=object)
    except TypeError:
        raise TypeError(f"units must be None, a unit (index or unit_name), a sequence of units, a slice or a "
                        f"boolean mask, got {type(units).__name__}") from None
    if values.ndim != 1:
        raise ValueError(f"units must be one-dimensional, got shape {values.shape}")
    items = list(values)
    flags = [isinstance(v, (bool, np.bool_)) for v in items]
    is_mask = values.dtype == bool or (any(flags) and all(flag or _missing(v) for flag, v in zip(flags, items)))
    if is_mask and hasattr(units, "reindex"):  # a pandas Series: by its index, not by position
        items = list(_aligned(units, n_units).to_numpy())
        flags = [isinstance(v, (bool, np.bool_)) for v in items]
    if is_mask and not all(flags):
        raise ValueError(f"the boolean unit mask holds {flags.count(False)} missing values (NaN: a column that some "
                         "of the files lack); fill them first, e.g. mask.fillna(False)")
    if is_mask:
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


def _aligned(mask: Any, n_units: int) -> Any:
    """A boolean pandas Series reindexed to the rows of ``rec.units`` (0 to n - 1), as pandas aligns a boolean
    key; refused unless its index holds each of those rows once (a mask of another or a filtered table)."""
    index = mask.index
    if len(index) != n_units or index.has_duplicates or not index.isin(range(n_units)).all():
        shown = ", ".join(map(str, list(index[:3]))) + (", ..." if len(index) > 3 else "")
        raise ValueError(f"a boolean unit mask (pandas Series) is applied by its index, which must hold the rows "
                         f"of rec.units, 0-{n_units - 1}, each once; this one has {len(index)} labels ({shown}); "
                         "build it from rec.units, or pass mask.to_numpy() to apply it by position")
    return mask.reindex(range(n_units))


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


def check_smooth(smooth: Any) -> bool:
    """``smooth`` as given: True or False only (a string such as ``"no"`` would otherwise count as True)."""
    if not isinstance(smooth, (bool, np.bool_)):
        raise TypeError(f"smooth must be True or False, got {smooth!r} ({type(smooth).__name__})")
    return bool(smooth)


def check_rate_hz(rate_hz: Any) -> float:
    """A sample rate asked for (Hz): a positive finite number."""
    if isinstance(rate_hz, (bool, np.bool_)) or not isinstance(rate_hz, numbers.Real):
        raise TypeError(f"rate_hz must be a number of Hz, got {rate_hz!r} ({type(rate_hz).__name__})")
    if not math.isfinite(rate_hz) or rate_hz <= 0:
        raise ValueError(f"rate_hz={rate_hz!r}: a sample rate must be a positive finite number of Hz")
    return float(rate_hz)


#: Grids smaller than this are not checked against the memory available (reading it costs more than they do).
_CHECKED_FROM_BYTES = 256 * 1024 * 1024


def check_grid_fits(shape: tuple[int, ...], n_bytes: int) -> None:
    """Refuse, before allocating, a grid of ``shape`` (``n_bytes`` with its temporary copies) that the memory
    available now cannot hold.

    Raises
    ------
    MemoryError
        One line: the grid's shape and size, the memory available and how to ask for less.
    """
    if n_bytes < _CHECKED_FROM_BYTES:
        return
    available = available_memory_bytes()
    if available is not None and n_bytes > available:
        units, stimuli, repeats, bins = shape
        raise MemoryError(f"the response grid of {units:,} units x {stimuli:,} stimuli x {repeats:,} repeats x "
                          f"{bins:,} bins needs {n_bytes / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB "
                          "of memory available; ask for fewer units or stimuli, or a larger dt_ms")


def available_memory_bytes() -> int | None:
    """The memory this process can still take, bytes: the system's available memory (Linux ``MemAvailable``,
    else free pages), and no more than its cgroup's limit leaves; None when unknown."""
    found: list[int] = []
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            found += [int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:")]
    if not found:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    with contextlib.suppress(OSError, ValueError):  # cgroup v2: "max" (no limit) raises ValueError
        limit = int(Path("/sys/fs/cgroup/memory.max").read_text())
        found.append(limit - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    return min(found) if found else None
