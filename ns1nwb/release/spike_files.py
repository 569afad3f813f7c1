"""One spike file (``cluster.NN.data.mat``) -> its stimulus sets, each identified by its ``stim_params``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..constants import STIMULUS_BY_KEY
from ..exceptions import RawFormatError
from .matfile import load_mat, plain_value, read_source
from .model import RawRepeat, RawSet, SourceFile

__all__ = ["read_spike_file", "check_spike_values"]


def _stimulus_index(position: int, stim_params: dict[str, Any]) -> int:
    """Which NS1 sound a set is: by its ``stim_params`` when present, else by position."""
    try:
        key = tuple(int(stim_params[k]) for k in ("Source", "Set", "StimID", "Token"))
    except (KeyError, TypeError, ValueError):
        return position
    info = STIMULUS_BY_KEY.get(key)  # type: ignore[arg-type]
    return info.index if info is not None else position


def _read_stim_params(value: Any) -> dict[str, Any]:
    if not isinstance(value, np.ndarray) or not value.dtype.names or value.size == 0:
        return {}
    record = value.ravel()[0]
    params: dict[str, Any] = {}
    for name in value.dtype.names:
        field_value = record[name]
        # Fast path for the common 1x1 numbers; anything else goes through plain_value.
        if isinstance(field_value, np.ndarray) and field_value.size == 1 and field_value.dtype.kind in "iu":
            params[name] = field_value.item()
        elif name == "all":
            params["all"] = _read_name_value_pairs(field_value)
        else:
            params[name] = plain_value(field_value)
    return params


def _read_name_value_pairs(value: Any) -> Any:
    """``stim_params.all``: a struct of ``names`` (cell of char) and ``values`` -> {name: value}."""
    try:
        record = value.ravel()[0]
        names = [str(n[0]) if n.shape == (1,) and n.dtype.kind == "U" else "".join(n.ravel().tolist())
                 for n in record["names"].ravel().tolist()]
        values = record["values"].ravel().tolist()
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return plain_value(value)
    return dict(zip(names, values)) if len(names) == len(values) else plain_value(value)


def _other_times(times: Any, spike_file: Path, position: int) -> np.ndarray:
    """Spike times that are not a float64 array: other number types, or an empty cell."""
    if isinstance(times, np.ndarray) and times.dtype.kind in "iuf":
        return times.astype(np.float64)
    if isinstance(times, np.ndarray) and times.size == 0:
        return np.empty(0)
    raise RawFormatError(f"{spike_file}: set {position + 1} has spike times of type "
                         f"{getattr(times, 'dtype', type(times))}; expected numbers")


def _other_stamp(raw_stamp: np.ndarray, spike_file: Path, position: int) -> str | None:
    if raw_stamp.dtype.kind != "U":
        raise RawFormatError(
            f"{spike_file}: set {position + 1} has a timestamp of type {raw_stamp.dtype} "
            f"({raw_stamp.ravel()[0]!r}); expected text 'YYYYMMDD-HHMMSSmmm'"
        )
    return "".join(raw_stamp.ravel().tolist()).strip() or None



def _repeat_stamp(raw_stamp: Any, spike_file: Path, position: int) -> str | None:
    if raw_stamp.__class__ is np.ndarray and raw_stamp.shape == (1,) and raw_stamp.dtype.kind == "U":
        return raw_stamp[0].strip() or None  # the usual 'YYYYMMDD-HHMMSSmmm'
    if raw_stamp is None or not raw_stamp.size:
        return None
    return _other_stamp(raw_stamp, spike_file, position)



def read_spike_file(spike_file: Path) -> tuple[list[RawSet], SourceFile]:
    """The sets of one spike file, every repeat's times as stored, and the file's checksum.

    Raises
    ------
    RawFormatError
        The file is not a MAT file or not in the NS1 spike-file layout.
    """
    data, source = read_source(spike_file)
    mat = load_mat(spike_file, data)
    data = mat.get("data")
    if not isinstance(data, np.ndarray) or not data.dtype.names or "set" not in data.dtype.names or data.size == 0:
        raise RawFormatError(f"{spike_file}: no 'data.set' struct; not an NS1 spike file")
    set_array = data.ravel()[0]["set"]
    if not isinstance(set_array, np.ndarray) or not set_array.dtype.names or "repeats" not in set_array.dtype.names:
        raise RawFormatError(f"{spike_file}: 'data.set' has no 'repeats' field; not an NS1 spike file")
    set_fields = set_array.dtype.names
    sets = []
    for position, set_record in enumerate(set_array.ravel()):
        repeats_struct = set_record["repeats"]
        repeats: list[RawRepeat] = []
        if isinstance(repeats_struct, np.ndarray) and repeats_struct.dtype.names and "t" in repeats_struct.dtype.names:
            # One column read per field (as a list) is much cheaper than field access per record.
            times = repeats_struct["t"].ravel().tolist()
            if "timestamp" in repeats_struct.dtype.names:
                stamps = [_repeat_stamp(raw_stamp, spike_file, position)
                          for raw_stamp in repeats_struct["timestamp"].ravel().tolist()]
            else:
                stamps = [None] * len(times)
            for repeat_times, stamp in zip(times, stamps):
                # Row, column or 0x0 float64 arrays are flattened; other types are the rare cases.
                if repeat_times.__class__ is not np.ndarray or repeat_times.dtype != np.float64:
                    repeat_times = _other_times(repeat_times, spike_file, position)
                repeats.append(RawRepeat(repeat_times.ravel(), stamp))
        elif not (isinstance(repeats_struct, np.ndarray) and repeats_struct.size == 0):
            raise RawFormatError(f"{spike_file}: set {position + 1} has a 'repeats' field without 't'")
        stim_params = _read_stim_params(set_record["stim_params"]) if "stim_params" in set_fields else {}
        length = plain_value(set_record["length_signal_ms"]) if "length_signal_ms" in set_fields else None
        sets.append(RawSet(position=position, stimulus_index=_stimulus_index(position, stim_params),
                           repeats=repeats, length_signal_ms=float(length) if isinstance(length, (int, float)) else None,
                           stim_params=stim_params))
    return sets, source


def check_spike_values(spike_file: Path, times: np.ndarray, warn: Any) -> None:
    """Fail on values that would corrupt the data; warn on ones that look like the wrong unit."""
    if not times.size:
        return
    if not np.isfinite(times).all():
        raise RawFormatError(f"{spike_file}: spike times contain NaN or infinite values; the file is corrupt")
    if (times < 0).any():
        raise RawFormatError(
            f"{spike_file}: {int((times < 0).sum())} negative spike times (min {times.min():.3f} ms); "
            "NS1 times are ms after sound onset"
        )
    if times.size >= 10 and times.max() < 6.0:
        warn(f"{spike_file}: all spike times are below 6 ms; are they in seconds instead of ms?")

