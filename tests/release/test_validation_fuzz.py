"""Hypothesis fuzz of the raw reader over field values (issue 16: "fuzz the raw reader with hypothesis over
field values, not only spike times").

Each example writes one value into one field of a copy of a 1- or 2-unit generated tree: a metadata field
(``NrOfElectrodes``, ``ElectrodeNumber``, ``depth``, ``NoiseRatio``, ``singleN``, ``singleT``), a
``stim_params`` field (``Source``, ``Set``, ``StimID``, ``Token``, ``Level``, ``NominalLevel``, ``BF``,
``Mode``), a set's ``length_signal_ms``, a repeat's spike times or a repeat's timestamp. The value mixes valid
and boundary values with NaN, +-inf, huge and negative numbers, text, empty and 2-element arrays.

The property: ``read_raw_tree`` + ``plan_blocks`` either succeed with every value of the model finite and
within :mod:`ns1nwb.release.validate`'s bounds (spike times inside their sweep, one subject per block, blocks of
at most a day whose presentations do not overlap), or raise :class:`~ns1nwb.exceptions.RawFormatError`. Never
another exception (an internal error), never a silent NaN.
"""

from __future__ import annotations

import math
import shutil
import string
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ns1nwb import read_raw_tree
from ns1nwb.exceptions import Ns1Warning, RawFormatError
from ns1nwb.release import BlockPlan, RawRelease, plan_blocks
from ns1nwb.release.blocks import presentation_key
from ns1nwb.release.validate import (_METADATA_BOUNDS, _SINGLE_LABELS, _STIM_BOUNDS, MAX_BLOCK_HOURS, MAX_SWEEP_MS,
                                     SPIKE_AFTER_SWEEP_MS, timestamp_problem)
from ns1nwb.sample_data import write_sample_tree
from rawedit import load_spikes, mat_value, neurons, save, save_neurons, unit_spike_file

NAN, INF = float("nan"), float("inf")
METADATA_FIELDS = ("NrOfElectrodes", "ElectrodeNumber", "depth", "NoiseRatio", "singleN", "singleT")
STIM_FIELDS = ("Source", "Set", "StimID", "Token", "Level", "NominalLevel", "BF", "Mode")
#: (kind, field): kind says where the value goes (a unit's metadata row, a set, a repeat).
FIELDS = ([("metadata", f) for f in METADATA_FIELDS] + [("stim_params", f) for f in STIM_FIELDS]
          + [("sweep", "length_signal_ms"), ("spikes", "t"), ("timestamp", "timestamp")])
KINDS = ("metadata", "stim_params", "sweep", "spikes", "timestamp")
#: Valid values of each field, as the release holds them (the sample tree's neighbours).
TYPICAL: dict[str, list[Any]] = {
    "NrOfElectrodes": [8, 16, 32], "ElectrodeNumber": [1, 7, 8], "depth": [-200, 0, 750, 1500],
    "NoiseRatio": [3.3, 7.8, 39.7], "singleN": [0, 1, 2], "Source": [1, 2, 9], "Set": [1, 2, 10, 40],
    "StimID": [0, 1, 12], "Token": [0, 1, 2], "Level": [-55, -49, -13], "NominalLevel": [75, 80, 82],
    "BF": [0, 1000.0], "Mode": [0, 1], "length_signal_ms": [5200.0, 5199.99476214, 5242.0, 6000.0],
    "t": [0.0, 0.6, 2500.5, 5199.0],
}


# --------------------------------------------------------------------------- strategies


def _boundaries(field: str) -> list[float]:
    """The edges of a field's bounds and just outside them."""
    bounds = {**_METADATA_BOUNDS, **_STIM_BOUNDS}.get(field)
    if bounds is not None:
        low, high, _ = bounds
        return [low, high, low - 1, high + 1, low - 1e-9, high + 0.5]
    if field == "length_signal_ms":
        return [0.0, -0.0, 1e-9, MAX_SWEEP_MS, MAX_SWEEP_MS + 1e-6]
    sweep = 5199.99476214  # the sample tree's
    return [0.0, -0.0, -1e-9, sweep, 5200.0, sweep + SPIKE_AFTER_SWEEP_MS, 6200.0, MAX_SWEEP_MS]  # spike times


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10**7, 10**7),
    st.sampled_from([NAN, INF, -INF, 1e300, -1e300, 1e12, -1.0, 0.5]),
)
texts = st.text(alphabet=string.ascii_letters + string.digits + " -.:", max_size=20)
odd_values = st.one_of(
    numbers,
    texts,
    st.just([]),  # an empty (0x0) array
    st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=2, max_size=2),  # a 2-element row
)


@dataclass(frozen=True)
class Shift:
    """A timestamp moved by ``seconds`` from the one stored (a valid form, perhaps an implausible time)."""

    seconds: float


def timestamps() -> st.SearchStrategy[Any]:
    """Timestamp values: moved by a little or a lot, rebuilt from (possibly invalid) parts, text, numbers."""
    parts = st.tuples(st.sampled_from([1, 1900, 2012, 2013, 2999, 9999]), st.integers(0, 13), st.integers(0, 32),
                      st.integers(0, 25), st.integers(0, 61), st.integers(0, 61), st.integers(0, 999))
    return st.one_of(
        st.builds(Shift, st.sampled_from([0.0, 0.001, 1.0, 3.0, 5.0, 60.0, 3600.0, 86_400.0, 1e9, -1e9])),
        st.builds(Shift, st.floats(-2e5, 2e5, allow_nan=False)),
        parts.map(lambda p: f"{p[0]:04d}{p[1]:02d}{p[2]:02d}-{p[3]:02d}{p[4]:02d}{p[5]:02d}{p[6]:03d}"),
        st.sampled_from(["", "   ", "20121222-11070234", "20121222-1107023400", "2012-12-22T11:07:02"]),
        odd_values,
    )


def values_for(field: str) -> st.SearchStrategy[Any]:
    """Valid, boundary and odd values of ``field``."""
    if field == "timestamp":
        return timestamps()
    if field == "singleT":
        return st.one_of(st.sampled_from([*_SINGLE_LABELS, "yes", "", "Maybe "]), odd_values)
    return st.one_of(st.sampled_from(TYPICAL[field]), st.sampled_from(_boundaries(field)), odd_values)


@dataclass(frozen=True)
class Edit:
    n_units: int
    unit: int
    kind: str
    field: str
    position: int
    repeat: int
    value: Any


@st.composite
def edits(draw: st.DrawFn) -> Edit:
    n_units = draw(st.sampled_from([1, 2]))
    kind = draw(st.sampled_from(KINDS))  # each kind as often, however many fields it has
    field = draw(st.sampled_from([f for k, f in FIELDS if k == kind]))
    return Edit(n_units, draw(st.integers(0, n_units - 1)), kind, field, draw(st.integers(0, 31)),
                draw(st.integers(0, 4)),  # every set has 5 repeats or more
                draw(values_for(field)))


# --------------------------------------------------------------------------- applying an edit


def _shifted(stamp: str, seconds: float) -> str:
    moment = datetime.strptime(stamp[:15], "%Y%m%d-%H%M%S") + timedelta(milliseconds=int(stamp[15:]))
    try:
        moment += timedelta(seconds=seconds)
    except OverflowError:
        return stamp
    return moment.strftime("%Y%m%d-%H%M%S") + f"{moment.microsecond // 1000:03d}"


def apply(root: Path, edit: Edit) -> None:
    """Write ``edit.value`` into ``root`` (a private copy)."""
    if edit.kind == "metadata":
        neuron = neurons(root)
        neuron[0, edit.unit][edit.field] = mat_value(edit.value)
        save_neurons(root, neuron)
        return
    spike_file = unit_spike_file(root, edit.unit)
    mat, sets = load_spikes(spike_file)
    record = sets[0, edit.position]
    if edit.kind == "stim_params":
        record["stim_params"][0, 0][edit.field] = mat_value(edit.value)
    elif edit.kind == "sweep":
        record["length_signal_ms"] = mat_value(edit.value)
    else:
        repeat = record["repeats"][0, edit.repeat]
        if edit.kind == "spikes":
            repeat["t"] = mat_value(edit.value)
        elif isinstance(edit.value, Shift):
            repeat["timestamp"] = np.array([_shifted(str(repeat["timestamp"].item()), edit.value.seconds)])
        else:
            repeat["timestamp"] = mat_value(edit.value)
    save(spike_file, mat)


# --------------------------------------------------------------------------- the property


def _within(value: Any, bounds: tuple[float, float, bool]) -> bool:
    low, high, whole = bounds
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and low <= value <= high and (not whole or float(value).is_integer()))


def assert_sound(release: RawRelease, plan: BlockPlan) -> None:
    """Every value the reader let through is finite and within validate.py's bounds; the clock is sane."""
    stamped = set()
    for unit in release.units:
        for name, bounds in _METADATA_BOUNDS.items():
            assert name not in unit.metadata or _within(unit.metadata[name], bounds), (name, unit.metadata[name])
        assert unit.metadata.get("singleT", "Yes") in _SINGLE_LABELS, unit.metadata["singleT"]
        indices = [s.stimulus_index for s in unit.sets]
        assert len(indices) == len(set(indices)) and all(0 <= i < 32 for i in indices), indices
        for raw_set in unit.sets:
            for name, bounds in _STIM_BOUNDS.items():
                value = raw_set.stim_params.get(name, 0)
                assert _within(value, bounds), (raw_set.position, name, value)
            sweep = raw_set.length_signal_ms
            assert sweep is None or (math.isfinite(sweep) and 0 < sweep <= MAX_SWEEP_MS), sweep
            for repeat in raw_set.repeats:
                times = repeat.spike_times_ms
                assert times.dtype == np.float64 and np.isfinite(times).all(), times
                limit = min(sweep + SPIKE_AFTER_SWEEP_MS, MAX_SWEEP_MS) if sweep is not None else MAX_SWEEP_MS
                assert not times.size or (times.min() >= 0 and times.max() <= limit), times
                stamped.add(repeat.timestamp is not None)
                assert repeat.timestamp is None or timestamp_problem(repeat.timestamp) is None, repeat.timestamp
    assert len(stamped) == 1, "some presentations timestamped, others not"
    for block in plan.blocks:
        assert len({release.units[i].ferret for i in block.unit_indices}) == 1
        for i in block.unit_indices:  # every spike inside its presentation's time on the clock
            for raw_set in release.units[i].sets:
                for position, repeat in enumerate(raw_set.repeats):
                    span = block.by_key[presentation_key(raw_set, position)].span_ms
                    assert not repeat.spike_times_ms.size or repeat.spike_times_ms.max() <= span, span
        onsets = np.array([p.onset_ms for p in block.presentations])
        lengths = np.array([p.span_ms for p in block.presentations])
        assert np.isfinite(onsets).all() and (onsets >= 0).all(), onsets
        assert np.isfinite(lengths).all() and (lengths > 0).all(), lengths
        assert block.duration_s <= MAX_BLOCK_HOURS * 3600
        if plan.clock == "wall-clock":
            assert (onsets[1:] >= onsets[:-1] + lengths[:-1]).all(), "presentations overlap"


# --------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def fuzz_bases(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Generated trees of 1 and 2 units (no spectrogram, no wavs: the fuzz is about MAT values). Read-only."""
    bases = {}
    for n in (1, 2):
        root = write_sample_tree(tmp_path_factory.mktemp(f"fuzz{n}") / "raw", n_units=n, seed=0,
                                 with_spectrogram=False)
        shutil.rmtree(root / "spikesandwav" / "SH.En.C")
        bases[n] = root
    return bases


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edit=edits())
@example(edit=Edit(2, 0, "sweep", "length_signal_ms", 3, 0, NAN))
@example(edit=Edit(2, 1, "spikes", "t", 9, 0, 1e300))
@example(edit=Edit(1, 0, "timestamp", "timestamp", 31, 4, "29990101-000000000"))
@example(edit=Edit(2, 1, "stim_params", "NominalLevel", 0, 0, [80.0, 81.0]))
@example(edit=Edit(2, 0, "metadata", "ElectrodeNumber", 0, 0, "seven"))
@example(edit=Edit(1, 0, "timestamp", "timestamp", 7, 3, ""))
@example(edit=Edit(2, 1, "sweep", "length_signal_ms", 0, 0, 5242.0))  # a valid value goes through
def test_reader_accepts_only_sound_values(fuzz_bases: dict[int, Path], edit: Edit) -> None:
    """Any value in any interpreted field: read and planned with every value sound, or a RawFormatError."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(shutil.copytree(fuzz_bases[edit.n_units], Path(tmp) / "raw"))
        apply(root, edit)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Ns1Warning)  # "wavs missing" (and any other tolerated input)
                release = read_raw_tree(root)
                plan = plan_blocks(release)
        except RawFormatError as err:
            assert "\n" not in str(err) and str(root) in str(err), err  # one line naming a file of the tree
            event(f"rejected: {edit.kind}")
            return
        event(f"accepted: {edit.kind}")
        assert_sound(release, plan)
