"""Every raw value validated before any work (issue 16: "Silent corruption" 1, 2, 4, 5, 6, 9 and "Internal
errors" 10, 11).

Each row edits one value of a small generated tree (2 units, 2 ferrets, 2 recording blocks, no
``test_data_5ms.mat``) through ``scipy.io.loadmat``/``savemat`` and runs ``ns1nwb convert RAW OUT --audio-rate
native`` in-process: bad input is exit 2 with exactly ONE ``error:`` line naming the file, the field and the
value, no traceback, and nothing written (no output, no temporary file). Before the validation each of these
converted with exit 0 into a corrupt file (NaN trial times, merged sets, a wrong subject, a synthetic clock, a
NaN spectrogram...) or stopped with an internal error (exit 1, "report it").

The last rows check the other side: the sample tree, a tree with symlink loops, 32 sets without
``stim_params`` and the real release still convert.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from ns1nwb.constants import METADATA_FILE, SPIKES_DIR, STIMULI, WAV_DIR
from rawedit import load_spikes, mat_value, neurons, save, save_neurons, struct, unit_paths, unit_spike_file
from cliharness import assert_error, assert_ok, convert_cli, let_warnings_through

NAN, INF = float("nan"), float("inf")
#: Unit 0 (exp45, Dec 2012) is the earliest recording block, unit 1 (exp57) the last.
EARLIEST, LAST = 0, 1


# --------------------------------------------------------------------------- editing helpers


def set_metadata(root: Path, unit: int, field: str, value: Any) -> None:
    """Metadata field ``field`` of unit ``unit`` becomes ``value``."""
    neuron = neurons(root)
    neuron[0, unit][field] = mat_value(value)
    save_neurons(root, neuron)


def set_sweep(spike_file: Path, position: int, value: Any) -> None:
    """``length_signal_ms`` of set ``position`` becomes ``value``."""
    mat, sets = load_spikes(spike_file)
    sets[0, position]["length_signal_ms"] = mat_value(value)
    save(spike_file, mat)


def set_stim_param(spike_file: Path, position: int, name: str, value: Any) -> None:
    """``stim_params.<name>`` of set ``position`` becomes ``value``."""
    mat, sets = load_spikes(spike_file)
    sets[0, position]["stim_params"][0, 0][name] = mat_value(value)
    save(spike_file, mat)


def set_timestamps(spike_file: Path, stamps: dict[tuple[int, int], Any]) -> None:
    """The timestamp of repeat ``r`` of set ``s`` becomes ``stamps[s, r]`` (text, or any MAT value)."""
    mat, sets = load_spikes(spike_file)
    for (s, r), stamp in stamps.items():
        sets[0, s]["repeats"][0, r]["timestamp"] = mat_value(stamp)
    save(spike_file, mat)


def timestamps_of(spike_file: Path) -> list[list[str]]:
    """Every repeat's timestamp, set by set."""
    _, sets = load_spikes(spike_file)
    return [[str(stamp.item()) for stamp in sets[0, s]["repeats"]["timestamp"].ravel()]
            for s in range(sets.shape[1])]


def set_positions_of(spike_file: Path) -> list[tuple[int, ...]]:
    """The (Source, Set, StimID, Token) key of each set of a file."""
    _, sets = load_spikes(spike_file)
    return [tuple(int(sets[0, s]["stim_params"][0, 0][k].item()) for k in ("Source", "Set", "StimID", "Token"))
            for s in range(sets.shape[1])]


def unit_in_first_block(root: Path) -> Path:
    """Make unit 1 a second cluster of unit 0's penetration with the same presentations (one recording block
    of one ferret holding two files); returns its spike file (``cluster.08.data.mat``)."""
    first = unit_spike_file(root, 0)
    second = first.with_name("cluster.08.data.mat")
    shutil.copy(first, second)
    neuron = neurons(root)
    neuron[0, 1]["path"] = np.array([second.relative_to(root / SPIKES_DIR).as_posix()])
    save_neurons(root, neuron)
    return second


def move_unit(root: Path, unit: int, rel_path: str) -> Path:
    """Move unit ``unit``'s spike file to ``spikesandwav/<rel_path>`` and point the metadata there."""
    target = root / SPIKES_DIR / rel_path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(unit_spike_file(root, unit), target)
    neuron = neurons(root)
    neuron[0, unit]["path"] = np.array([rel_path])
    save_neurons(root, neuron)
    return target


# --------------------------------------------------------------------------- 1. length_signal_ms


@pytest.mark.parametrize("value, unit, shown", [
    pytest.param(NAN, EARLIEST, "nan", id="nan-earliest-block"),
    pytest.param(INF, LAST, "inf", id="inf-last-block"),
    pytest.param(-INF, EARLIEST, "-inf", id="-inf"),
    pytest.param(-5000.0, LAST, "-5000", id="-5000"),
    pytest.param(0.0, LAST, "0.0", id="zero"),
    pytest.param(1e300, LAST, "1e+300", id="1e300"),
    pytest.param(60_001.0, EARLIEST, "60001", id="a-minute"),
    pytest.param("5200", EARLIEST, "'5200'", id="text"),
    pytest.param([5200.0, 5200.0], EARLIEST, "[5200.0, 5200.0]", id="two-values"),
])
def test_bad_sweep_length(tree: Path, out: Path, value: Any, unit: int, shown: str) -> None:
    """Issue 16 item 1: a NaN ``length_signal_ms`` made 460 trials start at NaN and every spike of another unit
    NaN; inf/1e300 gave obs_intervals ending at inf, -5000 trials with stop < start. Now refused."""
    spike_file = unit_spike_file(tree, unit)
    set_sweep(spike_file, 3, value)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "set 4 length_signal_ms", shown, output=out)


# --------------------------------------------------------------------------- 2. a set's identity


def _with_extra_sets(spike_file: Path, extra: np.ndarray) -> None:
    mat, sets = load_spikes(spike_file)
    mat["data"][0, 0]["set"] = np.concatenate([sets, extra], axis=1)
    save(spike_file, mat)


def test_33rd_set_repeating_set_0(tree: Path, out: Path) -> None:
    """Issue 16 item 2: a 33rd set with set 0's ``stim_params`` and timestamps but set 1's spikes was merged
    into set 0's trials (the nat01 grid sum went from 2413.5 to 5089). Now: each sound once per file."""
    spike_file = unit_spike_file(tree, 0)
    _, sets = load_spikes(spike_file)
    extra = sets[:, :1].copy()
    repeats = sets[0, 0]["repeats"].copy()
    for r in range(repeats.shape[1]):
        repeats[0, r]["t"] = sets[0, 1]["repeats"][0, r]["t"]
    extra[0, 0]["repeats"] = repeats
    _with_extra_sets(spike_file, extra)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "sets 1 and 33", "stimulus 0", "stim_params",
                 output=out)


def test_100_sets(tree: Path, out: Path) -> None:
    """Issue 16 item 2: 100 sets (the 32 repeated) put 79,609 spikes in the 460 trials of 24,876."""
    spike_file = unit_spike_file(tree, 0)
    _, sets = load_spikes(spike_file)
    _with_extra_sets(spike_file, np.concatenate([sets, sets, sets[:, :4]], axis=1))
    assert load_spikes(spike_file)[1].shape == (1, 100)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "sets 1 and 33", "stim_params", output=out)


@pytest.mark.parametrize("name, value, shown", [
    pytest.param("Source", 7, "Source=7", id="unknown-source"),
    pytest.param("StimID", 13, "StimID=13", id="unknown-stim-id"),
])
def test_unknown_stimulus(tree: Path, out: Path, name: str, value: int, shown: str) -> None:
    """A set whose ``stim_params`` name no NS1 sound (was read by position, or an internal KeyError)."""
    spike_file = unit_spike_file(tree, 1)
    set_stim_param(spike_file, 2, name, value)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "set 3", shown, "none of the 32", output=out)


def test_two_sets_of_one_sound(tree: Path, out: Path) -> None:
    """Set 2 relabelled as set 1's sound: two sets of one stimulus in a file."""
    spike_file = unit_spike_file(tree, 0)
    key = set_positions_of(spike_file)[1]
    for name, value in zip(("Source", "Set", "StimID", "Token"), key):
        set_stim_param(spike_file, 2, name, value)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "sets 2 and 3", "stim_params", output=out)


# --------------------------------------------------------------------------- 4. one subject per block


@pytest.mark.parametrize("shared", ["all", "one"])
def test_two_ferrets_with_shared_timestamps(tree: Path, out: Path, shared: str) -> None:
    """Issue 16 item 4: an exp57 unit whose file carries exp45's timestamps (all of them, or just one) was put
    in exp45's recording block with ``subject_id`` exp45. Now: a block has one subject."""
    first, second = unit_spike_file(tree, 0), unit_spike_file(tree, 1)
    if shared == "all":
        shutil.copy(first, second)
    else:
        set_timestamps(second, {(5, 2): timestamps_of(first)[0][0]})
    assert_error(convert_cli(tree, out), 2, str(second), "timestamps", "'exp45'", "'exp57'", output=out)


# --------------------------------------------------------------------------- 5. timestamps for all or none


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
@pytest.mark.parametrize("blank", [pytest.param("", id="empty"), pytest.param("   ", id="spaces"),
                                   pytest.param([], id="0x0")])
def test_one_blank_timestamp_among_460(tree: Path, out: Path, blank: Any, strict: bool) -> None:
    """Issue 16 item 5: one blank timestamp among 460 sent the whole file to the synthetic clock (start
    2000-01-01), even with --strict. Now refused, --strict or not."""
    spike_file = unit_spike_file(tree, 0)
    assert sum(map(len, timestamps_of(spike_file))) == 460
    set_timestamps(spike_file, {(7, 3): blank})
    result = convert_cli(tree, out, *(["--strict"] if strict else []))
    assert_error(result, 2, str(spike_file), "1 of 460 presentations have no timestamp", output=out)


def drop_timestamps(spike_file: Path) -> None:
    """Rewrite ``spike_file`` without the ``timestamp`` field (an older export: the synthetic clock)."""
    mat, sets = load_spikes(spike_file)
    for s in range(sets.shape[1]):
        repeats = sets[0, s]["repeats"]
        sets[0, s]["repeats"] = struct(repeats.shape, {name: [rec[name] for rec in repeats.ravel()]
                                                       for name in repeats.dtype.names if name != "timestamp"})
    save(spike_file, mat)


def test_timestamps_in_one_file_only(tree: Path, out: Path) -> None:
    """A file without any timestamp beside files with them: the tree would mix wall-clock and synthetic
    blocks. Every presentation of the tree is timestamped, or none."""
    spike_file = unit_spike_file(tree, 1)
    drop_timestamps(spike_file)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "without timestamps", output=out)


def test_synthetic_clock_sweep_longer_than_its_spacing(tree: Path, out: Path) -> None:
    """Without timestamps presentations sit 10 s apart: a 25-s sweep (inside the 60-s bound) overlapped 20
    trials silently. Now refused, naming the file holding it."""
    for unit in (0, 1):
        drop_timestamps(unit_spike_file(tree, unit))
    spike_file = unit_spike_file(tree, 1)
    set_sweep(spike_file, 3, 25_000.0)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "25000-ms sweep", "length_signal_ms", "synthetic",
                 output=out)


@pytest.mark.parametrize("stamp, problem", [
    pytest.param("20121322-110702340", "not a valid date", id="month-13"),
    pytest.param("20130229-110702340", "not a valid date", id="feb-29-2013"),
    pytest.param("20121222-250702340", "not a valid date", id="hour-25"),
    pytest.param("yesterday", "YYYYMMDD-HHMMSSmmm", id="text"),
    pytest.param("2012-12-22 11:07:02", "YYYYMMDD-HHMMSSmmm", id="iso"),
    pytest.param(20121222.11, "expected text", id="number"),
    pytest.param("\uff12\uff10\uff11\uff12\uff11\uff12\uff12\uff12-\uff11\uff11\uff10\uff17\uff10\uff12\uff13\uff14\uff10",
                 "YYYYMMDD-HHMMSSmmm", id="fullwidth-digits"),
])
def test_unparseable_timestamp(tree: Path, out: Path, stamp: Any, problem: str) -> None:
    """A timestamp that is not a time was an internal error when the clock was built."""
    spike_file = unit_spike_file(tree, 1)
    set_timestamps(spike_file, {(4, 1): stamp})
    assert_error(convert_cli(tree, out), 2, str(spike_file), "timestamp", str(stamp), problem, output=out)


# --------------------------------------------------------------------------- 6. wav samples


@pytest.mark.parametrize("bad, shown", [(NAN, "nan"), (INF, "inf"), (-INF, "-inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_wav_sample(wav_tree: Path, out: Path, bad: float, shown: str) -> None:
    """Issue 16 item 6: NaN or inf samples in a wav were stored as is (and the spectrogram was NaN)."""
    path = wav_tree / SPIKES_DIR / WAV_DIR / STIMULI[3].wav_name
    samples, rate = sf.read(path, dtype="float32")
    samples[1000] = bad
    sf.write(path, samples, rate, format="WAV", subtype="FLOAT")
    assert_error(convert_cli(wav_tree, out), 2, str(path), "sample 1000", shown, output=out)


# --------------------------------------------------------------------------- 9. implausible values


def _set_first_spike(spike_file: Path, position: int, value: float) -> None:
    mat, sets = load_spikes(spike_file)
    times = sets[0, position]["repeats"]["t"]
    r = next(i for i in range(times.shape[1]) if times[0, i].size)
    times[0, r] = times[0, r].copy()
    times[0, r][0, 0] = value
    save(spike_file, mat)


@pytest.mark.parametrize("value, shown", [(1e300, "1e+300"), (6300.0, "6300")], ids=["1e300", "after-sweep"])
def test_spike_after_its_sweep(tree: Path, out: Path, value: float, shown: str) -> None:
    """Issue 16 item 9: a spike at 1e300 ms was accepted (float64 times broken); a spike long after the
    recorded sweep lies in the next trial. Spikes stay within SPIKE_AFTER_SWEEP_MS (1 s) of their sweep."""
    spike_file = unit_spike_file(tree, 1)
    _set_first_spike(spike_file, 9, value)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "set 10", f"spike at {shown} ms", output=out)


@pytest.mark.parametrize("year", ["2999", "1900"])
def test_timestamp_far_off(tree: Path, out: Path, year: str) -> None:
    """Issue 16 item 9: one timestamp in year 2999 made a 987-year block (spike times off by 1.9e-3 ms).
    A block lasts at most a day."""
    spike_file = unit_spike_file(tree, LAST)
    stamp = timestamps_of(spike_file)[31][4]
    set_timestamps(spike_file, {(31, 4): year + stamp[4:]})
    assert_error(convert_cli(tree, out), 2, str(spike_file), "timestamps", f"'{year}", "24 h", output=out)


@pytest.mark.parametrize("year", ["2999", "1900"])
def test_timestamp_far_off_names_its_file(tree: Path, out: Path, year: str) -> None:
    """In a block of two files the error names the file holding the odd timestamp (it named the block's first
    file)."""
    second = unit_in_first_block(tree)
    stamp = timestamps_of(second)[31][4]
    set_timestamps(second, {(31, 4): year + stamp[4:]})
    assert_error(convert_cli(tree, out), 2, str(second), f"'{year}", "24 h", output=out)


def test_all_460_timestamps_identical(tree: Path, out: Path) -> None:
    """Issue 16 item 9: all 460 timestamps alike put every trial at 0.0. A file repeating a timestamp in a set
    is refused."""
    spike_file = unit_spike_file(tree, 0)
    stamps = timestamps_of(spike_file)
    set_timestamps(spike_file, {(s, r): stamps[0][0] for s, row in enumerate(stamps) for r in range(len(row))})
    assert_error(convert_cli(tree, out), 2, str(spike_file), "set 1", "two repeats", repr(stamps[0][0]),
                 output=out)


def test_overlapping_presentations(tree: Path, out: Path) -> None:
    """Two sounds at one time (set 2's first timestamp copied from set 1): presentations may not overlap. In a
    block of two files the file holding the later presentation is named."""
    second = unit_in_first_block(tree)
    stamp = timestamps_of(second)[0][0]
    set_timestamps(second, {(1, 0): stamp})
    assert_error(convert_cli(tree, out), 2, str(second), "stimulus 1", repr(stamp), "sweep ends", output=out)


# --------------------------------------------------------------------------- 10. metadata values


@pytest.mark.parametrize("unit, field, value, shown", [
    pytest.param(0, "ElectrodeNumber", NAN, "nan", id="ElectrodeNumber-nan"),
    pytest.param(0, "ElectrodeNumber", "seven", "'seven'", id="ElectrodeNumber-seven"),
    pytest.param(0, "ElectrodeNumber", -1, "-1", id="ElectrodeNumber--1"),
    pytest.param(0, "ElectrodeNumber", 7.5, "7.5", id="ElectrodeNumber-7.5"),
    pytest.param(0, "ElectrodeNumber", [], "None", id="ElectrodeNumber-empty"),
    pytest.param(1, "ElectrodeNumber", 20, "20", id="ElectrodeNumber-above-NrOfElectrodes"),
    pytest.param(0, "depth", 40000, "40000", id="depth-40000"),
    pytest.param(1, "depth", NAN, "nan", id="depth-nan"),
    pytest.param(0, "NrOfElectrodes", 300, "300", id="NrOfElectrodes-300"),
    pytest.param(0, "NrOfElectrodes", [32.0, 32.0], "[32.0, 32.0]", id="NrOfElectrodes-two-values"),
    pytest.param(1, "singleN", 999, "999", id="singleN-999"),
    pytest.param(1, "NoiseRatio", -INF, "-inf", id="NoiseRatio--inf"),
    pytest.param(0, "singleT", "Perhaps", "'Perhaps'", id="singleT-Perhaps"),
])
def test_bad_metadata_value(tree: Path, out: Path, unit: int, field: str, value: Any, shown: str) -> None:
    """Issue 16 item 10: these metadata values were internal errors (exit 1) or stored as nonsense."""
    set_metadata(tree, unit, field, value)
    assert_error(convert_cli(tree, out), 2, str(tree / METADATA_FILE), f"unit {unit}", field, shown, output=out)


@pytest.mark.parametrize("fields, shown", [
    pytest.param({"session_id": "abc"}, "'session_id'", id="session_id"),
    pytest.param({"spike_times": 1.0}, "'spike_times'", id="spike_times"),
    pytest.param({"SpikeTimes": 1.0}, "'SpikeTimes'", id="SpikeTimes"),
    pytest.param({"noise_ratio": 1.0}, "'noise_ratio'", id="two-fields-one-column"),
])
def test_metadata_field_clashing_with_a_column(tree: Path, out: Path, fields: dict[str, Any], shown: str) -> None:
    """Issue 16 item 10: extra metadata fields named like a column ns1nwb writes (or two fields naming one
    column) gave duplicate columns: an internal error."""
    neuron = neurons(tree)
    columns = {name: [rec[name] for rec in neuron.ravel()] for name in neuron.dtype.names}
    columns.update({name: [mat_value(value)] * neuron.size for name, value in fields.items()})
    save_neurons(tree, struct(neuron.shape, columns))
    assert_error(convert_cli(tree, out), 2, str(tree / METADATA_FILE), "metadata field", shown, "column",
                 output=out)


@pytest.mark.parametrize("rel_path, problem", [
    pytest.param("exp45_1x32\\P04-SH.En.C.U\\cluster.07.data.mat", "separators", id="backslashes"),
    # A path without <experiment>/<penetration>/ folders is read (ferret and probe 'unknown'), as the seed
    # reads it: tests/release/test_folderless_paths.py.
])
def test_unit_path_shape(tree: Path, out: Path, rel_path: str, problem: str) -> None:
    """Issue 16 item 10: a unit path with ``\\`` separators was an internal error. The file is there, so only
    the path's shape is wrong."""
    target = tree / SPIKES_DIR / rel_path.replace("\\", "/")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(unit_spike_file(tree, 0), target)
    set_metadata(tree, 0, "path", rel_path)
    assert_error(convert_cli(tree, out), 2, str(tree / METADATA_FILE), "unit 0 path", repr(rel_path), problem,
                 output=out)


def test_folders_giving_one_device_name(tree: Path, out: Path) -> None:
    """Issue 16 item 10: folders ``exp45_1x32`` and ``exp45.1x32`` both became device ``probe_exp45_1x32``:
    an internal error when the second was added."""
    moved = move_unit(tree, 1, "exp45.1x32/P02-SH.En.C.U/cluster.12.data.mat")
    assert_error(convert_cli(tree, out), 2, str(moved), "'exp45_1x32'", "'exp45.1x32'", "probe_exp45_1x32",
                 output=out)


def test_folders_giving_one_group_name(tree: Path, out: Path) -> None:
    """``exp45_1x32/P04.a`` and ``exp45_1x32.P04/a`` would both be electrode group ``exp45_1x32.P04.a``."""
    move_unit(tree, 0, "exp45_1x32/P04.a/cluster.07.data.mat")
    moved = move_unit(tree, 1, "exp45_1x32.P04/a/cluster.12.data.mat")
    assert_error(convert_cli(tree, out), 2, str(moved), "probe folders", "exp45_1x32.P04.a", output=out)


def test_ferret_folders_giving_one_subject(tree: Path, out: Path) -> None:
    """Ferret folders ``exp.45`` and ``exp-45`` would both be subject ``exp-45`` (DANDI's labels keep letters,
    digits and '-'): two ferrets pooled as one."""
    move_unit(tree, 0, "exp.45_1x32/P04-SH.En.C.U/cluster.07.data.mat")
    moved = move_unit(tree, 1, "exp-45_4x8/P02-SH.En.C.U/cluster.12.data.mat")
    assert_error(convert_cli(tree, out), 2, str(moved), "ferret folders", "'exp.45'", "'exp-45'", output=out)


def test_blocks_giving_one_session_id(tree: Path, out: Path) -> None:
    """Two blocks of one penetration starting in the same second would both be session
    ``exp45-P04-<start>`` (and write one DANDI file)."""
    second = unit_in_first_block(tree)
    stamps = timestamps_of(second)
    assert min(min(s) for s in stamps)[-3:] != "999"  # 1 ms later is still the same second
    later = {(s, r): (dt.datetime.strptime(stamp, "%Y%m%d-%H%M%S%f") + dt.timedelta(milliseconds=1))
             .strftime("%Y%m%d-%H%M%S%f")[:-3] for s, row in enumerate(stamps) for r, stamp in enumerate(row)}
    set_timestamps(second, later)
    assert_error(convert_cli(tree, out), 2, str(second), "would both be session", "same ferret", output=out)


# Symlink loops (issue 16 item 10): never a hang (the suite's timeout), never an internal error.


def _loop_folders(root: Path) -> None:
    """Folder links that loop: ``exp45_1x32/loop -> ..`` and ``self -> self``."""
    (root / SPIKES_DIR / "exp45_1x32" / "loop").symlink_to("..", target_is_directory=True)
    (root / SPIKES_DIR / "self").symlink_to("self")


@let_warnings_through
@pytest.mark.timeout(120)
@pytest.mark.parametrize("all_clusters", [False, True], ids=["metadata-units", "all-clusters"])
def test_folder_symlink_loop_converts(lean_tree: Path, out: Path, all_clusters: bool) -> None:
    """Folder links looping under spikesandwav/ are not followed: the conversion works, with or without
    ``--all-clusters``."""
    _loop_folders(lean_tree)
    result = convert_cli(lean_tree, out, *(["--all-clusters"] if all_clusters else []))
    assert_ok(result, out)
    assert "2 units" in result.stdout


@let_warnings_through
@pytest.mark.timeout(120)
def test_file_symlink_loop_is_counted(lean_tree: Path, out: Path) -> None:
    """A ``cluster.99.data.mat`` that links to itself, without ``--all-clusters``: counted, not read (it was
    an internal error: pathlib's RuntimeError 'Symlink loop')."""
    _loop_folders(lean_tree)
    loop = unit_spike_file(lean_tree, 0).with_name("cluster.99.data.mat")
    loop.symlink_to(loop.name)
    assert_ok(convert_cli(lean_tree, out), out)


@pytest.mark.timeout(120)
def test_file_symlink_loop_with_all_clusters(tree: Path, out: Path) -> None:
    """With ``--all-clusters`` the looping cluster file is read: exit 2, one line naming it."""
    loop = unit_spike_file(tree, 0).with_name("cluster.99.data.mat")
    loop.symlink_to(loop.name)
    assert_error(convert_cli(tree, out, "--all-clusters"), 2, str(loop), "symbolic links", output=out)


@pytest.mark.timeout(120)
def test_unit_path_into_a_symlink_loop(tree: Path, out: Path) -> None:
    """A metadata path through a looping link: exit 2 naming the metadata file and the path (it was an
    internal error)."""
    _loop_folders(tree)
    set_metadata(tree, 1, "path", "self/P01/cluster.01.data.mat")
    assert_error(convert_cli(tree, out), 2, str(tree / METADATA_FILE), "'self/P01/cluster.01.data.mat'",
                 "symlink loop", output=out)


# --------------------------------------------------------------------------- 11. spike files


def test_no_sets(tree: Path, out: Path) -> None:
    """Issue 16 item 11: a file with zero sets was ``min()`` of an empty sequence (exit 1)."""
    spike_file = unit_spike_file(tree, 0)
    mat, sets = load_spikes(spike_file)
    mat["data"][0, 0]["set"] = sets[:, :0]
    save(spike_file, mat)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "'data.set' holds no sets", output=out)


@pytest.mark.parametrize("empty", ["no-repeats", "0x0"])
def test_every_repeat_empty(tree: Path, out: Path, empty: str) -> None:
    """Issue 16 item 11: every ``repeats`` empty (a 1x0 struct, or a 0x0 double) was ``min()`` of an empty
    sequence."""
    spike_file = unit_spike_file(tree, 1)
    mat, sets = load_spikes(spike_file)
    for s in range(sets.shape[1]):
        sets[0, s]["repeats"] = sets[0, s]["repeats"][:, :0] if empty == "no-repeats" else np.zeros((0, 0))
    save(spike_file, mat)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "every 'repeats' is empty", output=out)


def _without_stim_params(spike_file: Path, n_sets: int) -> None:
    """Rewrite ``spike_file`` with ``n_sets`` sets (set 0 again after the 32nd) and no ``stim_params``."""
    mat, sets = load_spikes(spike_file)
    chosen = [sets[0, s % sets.shape[1]] for s in range(n_sets)]
    mat["data"][0, 0]["set"] = struct((1, n_sets), {name: [rec[name] for rec in chosen]
                                                    for name in sets.dtype.names if name != "stim_params"})
    save(spike_file, mat)


def test_more_than_32_sets_without_stim_params(tree: Path, out: Path) -> None:
    """Issue 16 item 11: a 33rd set without ``stim_params`` has no sound by position (it was an IndexError)."""
    spike_file = unit_spike_file(tree, 0)
    _without_stim_params(spike_file, 33)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "set 33 has no stim_params", output=out)


@pytest.mark.parametrize("unit, name, value, shown", [
    pytest.param(0, "NominalLevel", "loud", "'loud'", id="NominalLevel-loud"),
    pytest.param(0, "NominalLevel", [80.0, 81.0], "[80.0, 81.0]", id="NominalLevel-80-81"),
    pytest.param(1, "Level", NAN, "nan", id="Level-nan"),
    pytest.param(1, "Source", NAN, "nan", id="Source-nan"),
    pytest.param(0, "BF", 1e12, "1000000000000", id="BF-1e12"),
    pytest.param(0, "Set", 2.5, "2.5", id="Set-2.5"),
    pytest.param(1, "Token", -1, "-1", id="Token--1"),
    pytest.param(1, "StimID", INF, "inf", id="StimID-inf"),
    pytest.param(0, "Mode", [], "None", id="Mode-empty"),
])
def test_bad_stim_params(tree: Path, out: Path, unit: int, name: str, value: Any, shown: str) -> None:
    """Issue 16 item 11: these ``stim_params`` values were internal errors (int(NaN), a list where a number
    goes) or stored as nonsense."""
    spike_file = unit_spike_file(tree, unit)
    set_stim_param(spike_file, 6, name, value)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "set 7", f"stim_params {name}", shown, output=out)


# --------------------------------------------------------------------------- what must still convert


def test_sample_tree_converts(tree: Path, out: Path) -> None:
    """The generated tree passes every check: exit 0, no warning, both units."""
    result = convert_cli(tree, out)
    assert assert_ok(result, out) == []
    assert "2 units" in result.stdout


@let_warnings_through
def test_tree_without_timestamps_converts(lean_tree: Path, out: Path) -> None:
    """No timestamp anywhere (older exports): the synthetic clock, exit 0."""
    for unit in (0, 1):
        drop_timestamps(unit_spike_file(lean_tree, unit))
    assert_ok(convert_cli(lean_tree, out), out)


@let_warnings_through
def test_32_sets_without_stim_params_convert(lean_tree: Path, out: Path) -> None:
    """Older exports without ``stim_params``: 32 sets are still identified by position."""
    _without_stim_params(unit_spike_file(lean_tree, 0), 32)
    assert_ok(convert_cli(lean_tree, out), out)


@pytest.mark.timeout(600)
def test_real_tree_converts(real_raw: Path, out: Path) -> None:
    """The real release (119 units, every raw value) passes every check: exit 0, no warning."""
    result = convert_cli(real_raw, out)
    assert assert_ok(result, out) == []
    assert f"{len(unit_paths(real_raw))} units" in result.stdout
