"""One spike file (``cluster.NN.data.mat``) -> its stimulus sets, each identified by its ``stim_params``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import N_STIMULI, STIMULUS_BY_KEY
from ..exceptions import RawFormatError
from .matfile import load_mat, plain_value, read_source
from .model import RawRepeat, RawSet, SourceFile
from .validate import check_set_spikes, check_stim_params, check_sweep_ms, check_timestamps

__all__ = ["SpikeFileContent", "read_spike_file", "check_spike_values"]


_KEY_FIELDS = ("Source", "Set", "StimID", "Token")


def _stimulus_index(spike_file: Path, position: int, stim_params: dict[str, Any]) -> int:
    """Which NS1 sound a set is: by its ``stim_params`` (never by position when they are there), else, for
    older exports without them, by its position in the release's set order.

    Raises
    ------
    RawFormatError
        The ``stim_params`` name none of the 32 NS1 sounds, or a set without them lies past the 32nd.
    """
    if all(k in stim_params for k in _KEY_FIELDS):
        key = tuple(int(stim_params[k]) for k in _KEY_FIELDS)  # whole numbers: checked before
        info = STIMULUS_BY_KEY.get(key)  # type: ignore[arg-type]
        if info is None:
            described = ", ".join(f"{k}={v}" for k, v in zip(_KEY_FIELDS, key))
            raise RawFormatError(f"{spike_file}: set {position + 1} has stim_params {described}, which is none of "
                                 "the 32 NS1 stimuli (natural: Source 1/2; DRC: Source 9)")
        return info.index
    if position >= N_STIMULI:
        raise RawFormatError(f"{spike_file}: set {position + 1} has no stim_params, and only the release's first "
                             f"{N_STIMULI} sets can be identified by position")
    return position


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
        names = ["".join(n.ravel().tolist()) for n in record["names"].ravel().tolist()]
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


def _repeat_stamp(raw_stamp: Any, spike_file: Path, position: int) -> str | None:
    """A repeat's timestamp (None when empty): text, as a one-element string array (the release) or characters."""
    if raw_stamp is None or not raw_stamp.size:
        return None
    if raw_stamp.dtype.kind != "U":
        raise RawFormatError(
            f"{spike_file}: set {position + 1} has a timestamp of type {raw_stamp.dtype} "
            f"({raw_stamp.ravel()[0]!r}); expected text 'YYYYMMDD-HHMMSSmmm'"
        )
    return "".join(raw_stamp.ravel().tolist()).strip() or None


@dataclass
class SpikeFileContent:
    """A spike file's sets in a few flat pieces: cheap to send from a reader process and to check at once.

    Repeat ``k`` (counting over the sets in order) has the spike times
    ``times[offsets[k]:offsets[k + 1]]`` with ``offsets = [0, *cumsum(lengths)]``.
    """

    #: Per set: (position, stimulus index, length_signal_ms, stim_params, number of repeats).
    sets: list[tuple[int, int, "float | None", dict[str, Any], int]]
    #: Spike count of every repeat.
    lengths: np.ndarray
    #: Every spike time of the file (ms, float64), repeat after repeat, each in its stored order.
    times: np.ndarray
    #: Timestamp of every repeat (None when absent).
    stamps: list["str | None"]

    def raw_sets(self) -> list[RawSet]:
        """The sets as :class:`RawSet` objects; every repeat's times are a view of :attr:`times`."""
        ends = np.cumsum(self.lengths)
        starts = ends - self.lengths
        # Every repeat's latest spike in one pass over the file (a repeat without spikes keeps 0): the planner
        # needs it for each of a release's 270,000 repeats.
        latest = np.zeros(self.lengths.size)
        with_spikes = self.lengths > 0
        if self.times.size:
            latest[with_spikes] = np.maximum.reduceat(self.times, starts[with_spikes])
        repeats = [RawRepeat(self.times[start:end], stamp, latest_ms)
                   for start, end, stamp, latest_ms in zip(starts.tolist(), ends.tolist(), self.stamps, latest.tolist())]
        sets, start = [], 0
        for position, stimulus_index, length_ms, stim_params, n_repeats in self.sets:
            sets.append(RawSet(position=position, stimulus_index=stimulus_index,
                               repeats=repeats[start:start + n_repeats], length_signal_ms=length_ms,
                               stim_params=stim_params))
            start += n_repeats
        return sets




def read_spike_file(spike_file: Path) -> tuple[SpikeFileContent, SourceFile]:
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
    all_times: list[np.ndarray] = []
    all_stamps: list[str | None] = []
    for position, set_record in enumerate(set_array.ravel()):
        repeats_struct = set_record["repeats"]
        n_repeats = 0
        if isinstance(repeats_struct, np.ndarray) and repeats_struct.dtype.names and "t" in repeats_struct.dtype.names:
            # One column read per field (as a list) is much cheaper than field access per record.
            times = repeats_struct["t"].ravel().tolist()
            n_repeats = len(times)
            for k, repeat_times in enumerate(times):
                # Row, column or 0x0 float64 arrays are flattened below; other types are the rare cases.
                if repeat_times.__class__ is not np.ndarray or repeat_times.dtype != np.float64:
                    times[k] = _other_times(repeat_times, spike_file, position)
            all_times.extend(times)
            if "timestamp" in repeats_struct.dtype.names:
                all_stamps.extend(_repeat_stamp(raw_stamp, spike_file, position)
                                  for raw_stamp in repeats_struct["timestamp"].ravel().tolist())
            else:
                all_stamps.extend([None] * n_repeats)
        elif not (isinstance(repeats_struct, np.ndarray) and repeats_struct.size == 0):
            raise RawFormatError(f"{spike_file}: set {position + 1} has a 'repeats' field without 't'")
        stim_params = _read_stim_params(set_record["stim_params"]) if "stim_params" in set_fields else {}
        check_stim_params(spike_file, position, stim_params)
        length = plain_value(set_record["length_signal_ms"]) if "length_signal_ms" in set_fields else None
        if length is not None:
            check_sweep_ms(spike_file, position, length)
        sets.append((position, _stimulus_index(spike_file, position, stim_params),
                     float(length) if length is not None else None, stim_params, n_repeats))
    lengths = np.fromiter((t.size for t in all_times), dtype=np.int64, count=len(all_times))
    # axis=None flattens each repeat's array (C order, as ravel) while joining them.
    times = np.concatenate(all_times, axis=None) if all_times else np.empty(0)
    content = SpikeFileContent(sets, lengths, times, all_stamps)
    _check_content(spike_file, content)
    return content, source


def _check_content(spike_file: Path, content: SpikeFileContent) -> None:
    """What a whole file must hold: presentations, each sound at most once, spikes inside their sweeps,
    timestamps that are times, for every presentation or for none."""
    if not content.sets:
        raise RawFormatError(f"{spike_file}: 'data.set' holds no sets; not an NS1 spike file")
    if not any(n_repeats for *_, n_repeats in content.sets):
        raise RawFormatError(f"{spike_file}: no set holds a presentation (every 'repeats' is empty)")
    first_position: dict[int, int] = {}
    for position, stimulus_index, *_ in content.sets:
        earlier = first_position.setdefault(stimulus_index, position)
        if earlier != position:
            raise RawFormatError(f"{spike_file}: sets {earlier + 1} and {position + 1} are both stimulus "
                                 f"{stimulus_index} (same stim_params); each sound has one set per file")
    offsets = np.concatenate([[0], np.cumsum(content.lengths)])
    repeat = 0
    for position, _, length_ms, _, n_repeats in content.sets:
        check_set_spikes(spike_file, position, content.times[offsets[repeat]:offsets[repeat + n_repeats]], length_ms)
        repeat += n_repeats
    check_timestamps(spike_file, content.stamps)


def check_spike_values(spike_file: Path, times: np.ndarray, warn: Any) -> None:
    """Warn on spike times that look like the wrong unit (what would corrupt the data failed when reading)."""
    if times.size >= 10 and times.max() < 6.0:
        warn(f"{spike_file}: all spike times are below 6 ms; are they in seconds instead of ms?")

