"""A spike file (``cluster.NN.data.mat``) that is not one, or whose sets do not say which sound they are
(``ns1nwb/release/spike_files.py``): one row per fault, each read as ``ns1nwb convert`` reads the tree
(``rawedit.assert_refused``): one RawFormatError, one line naming the file and the problem.

Issue 16 ("Silent corruption" 2 and "Internal errors" 11): a set repeating another's sound was merged into its
trials; a file without sets or without presentations was an internal error. These rows were ``ns1nwb convert``
runs (tests/test_validation.py, tests/test_faults.py, tests/test_all_clusters.py) or reader rows without the
problem's words (tests/test_raw.py); each fails without its check.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import scipy.io as sio

from ns1nwb.constants import SPIKES_DIR
from rawedit import (assert_refused, load_spikes, save, set_stim_param, struct, truncate, unit_spike_file,
                     without_stim_params)


def _without(arr: np.ndarray, *drop: str) -> np.ndarray:
    """The same struct array without the fields ``drop``."""
    records = arr.reshape(-1)
    return struct(arr.shape, {n: [rec[n] for rec in records] for n in arr.dtype.names if n not in drop})


def _set_positions_of(spike_file: Path) -> list[tuple[int, ...]]:
    """The (Source, Set, StimID, Token) key of each set of a file."""
    _, sets = load_spikes(spike_file)
    return [tuple(int(sets[0, s]["stim_params"][0, 0][k].item()) for k in ("Source", "Set", "StimID", "Token"))
            for s in range(sets.shape[1])]


def _with_extra_sets(spike_file: Path, extra: np.ndarray) -> None:
    mat, sets = load_spikes(spike_file)
    mat["data"][0, 0]["set"] = np.concatenate([sets, extra], axis=1)
    save(spike_file, mat)


# --------------------------------------------------------------------------- not a spike file


@pytest.mark.parametrize("damage, problem", [
    pytest.param(truncate, "not a readable MAT file", id="truncated"),
    pytest.param(lambda p: p.write_bytes(p.read_bytes()[:128]), "no 'data.set' struct", id="header-only"),
    pytest.param(lambda p: p.write_bytes(b""), "not a readable MAT file", id="empty"),
    pytest.param(lambda p: p.write_text("spike times: 1.0 2.0 3.0\n" * 20), "not a readable MAT file", id="text"),
])
def test_unreadable_spike_file(tree: Path, damage: Callable[[Path], Any], problem: str) -> None:
    spike_file = unit_spike_file(tree, 1)
    damage(spike_file)
    assert_refused(tree, str(spike_file), problem)


@pytest.mark.parametrize("variables", [
    pytest.param(lambda mat: {"spikes": np.ones((1, 10))}, id="no-data"),
    pytest.param(lambda mat: {"data": np.array([[1.0, 2.0]])}, id="data-not-struct"),
    pytest.param(lambda mat: {"data": struct((1, 1), {"sets": [np.ones((1, 10))]})}, id="no-set"),
    pytest.param(lambda mat: {"data": struct((1, 1), {"set": [np.array([[1.0]])]})}, id="set-not-struct"),
    pytest.param(lambda mat: {"data": struct((1, 1), {"set": [_without(mat["data"][0, 0]["set"], "repeats")]})},
                 id="no-repeats"),
])
def test_spike_file_without_data_set(tree: Path, variables: Callable[[dict], dict]) -> None:
    """A MAT file without a ``data.set`` struct with ``repeats`` is not a spike file."""
    spike_file = unit_spike_file(tree, 1)
    sio.savemat(spike_file, variables(sio.loadmat(spike_file)))
    assert_refused(tree, str(spike_file), "data.set", "not an NS1 spike file")


def test_repeats_without_t(tree: Path) -> None:
    """A ``repeats`` struct without ``t`` (the one required field)."""
    spike_file = unit_spike_file(tree, 1)
    mat, sets = load_spikes(spike_file)
    sets[0, 3]["repeats"] = _without(sets[0, 3]["repeats"], "t")
    save(spike_file, mat)
    assert_refused(tree, str(spike_file), "set 4", "'repeats' field without 't'")


def test_no_sets(tree: Path) -> None:
    """Issue 16 item 11: a file with zero sets was ``min()`` of an empty sequence (exit 1)."""
    spike_file = unit_spike_file(tree, 0)
    mat, sets = load_spikes(spike_file)
    mat["data"][0, 0]["set"] = sets[:, :0]
    save(spike_file, mat)
    assert_refused(tree, str(spike_file), "'data.set' holds no sets")


@pytest.mark.parametrize("empty", ["no-repeats", "0x0"])
def test_every_repeat_empty(tree: Path, empty: str) -> None:
    """Issue 16 item 11: every ``repeats`` empty (a 1x0 struct, or a 0x0 double) was ``min()`` of an empty
    sequence."""
    spike_file = unit_spike_file(tree, 1)
    mat, sets = load_spikes(spike_file)
    for s in range(sets.shape[1]):
        sets[0, s]["repeats"] = sets[0, s]["repeats"][:, :0] if empty == "no-repeats" else np.zeros((0, 0))
    save(spike_file, mat)
    assert_refused(tree, str(spike_file), "every 'repeats' is empty")


# --------------------------------------------------------------------------- which sound a set is


def test_33rd_set_repeating_set_0(tree: Path) -> None:
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
    assert_refused(tree, str(spike_file), "sets 1 and 33", "stimulus 0", "stim_params")


def test_100_sets(tree: Path) -> None:
    """Issue 16 item 2: 100 sets (the 32 repeated) put 79,609 spikes in the 460 trials of 24,876."""
    spike_file = unit_spike_file(tree, 0)
    _, sets = load_spikes(spike_file)
    _with_extra_sets(spike_file, np.concatenate([sets, sets, sets[:, :4]], axis=1))
    assert load_spikes(spike_file)[1].shape == (1, 100)
    assert_refused(tree, str(spike_file), "sets 1 and 33", "stim_params")


def test_two_sets_of_one_sound(tree: Path) -> None:
    """Set 2 relabelled as set 1's sound: two sets of one stimulus in a file."""
    spike_file = unit_spike_file(tree, 0)
    key = _set_positions_of(spike_file)[1]
    for name, value in zip(("Source", "Set", "StimID", "Token"), key):
        set_stim_param(spike_file, 2, name, value)
    assert_refused(tree, str(spike_file), "sets 2 and 3", "stim_params")


@pytest.mark.parametrize("name, value, shown", [
    pytest.param("Source", 7, "Source=7", id="unknown-source"),
    pytest.param("StimID", 13, "StimID=13", id="unknown-stim-id"),
])
def test_unknown_stimulus(tree: Path, name: str, value: int, shown: str) -> None:
    """A set whose ``stim_params`` name no NS1 sound (was read by position, or an internal KeyError)."""
    spike_file = unit_spike_file(tree, 1)
    set_stim_param(spike_file, 2, name, value)
    assert_refused(tree, str(spike_file), "set 3", shown, "none of the 32")


def test_a_cluster_set_matching_no_stimulus(cluster_raw: Path, tmp_path: Path) -> None:
    """The same in a cluster the metadata does not name, read with --all-clusters (its 31 sets shifted)."""
    tree = Path(shutil.copytree(cluster_raw, tmp_path / "raw"))
    spike_file = tree / SPIKES_DIR / "exp45_1x32/P04-SH.En.C.U/cluster.09.data.mat"
    mat, sets = load_spikes(spike_file)
    sets[0, 4]["stim_params"][0, 0]["Source"] = np.array([[5]], dtype=np.uint8)
    save(spike_file, mat)
    assert_refused(tree, str(spike_file), "set 5", "Source=5", "none of the 32", all_clusters=True)


def test_more_than_32_sets_without_stim_params(tree: Path) -> None:
    """Issue 16 item 11: a 33rd set without ``stim_params`` has no sound by position (it was an IndexError).
    (32 sets without them are read by position: tests/release/test_blocks.py.)"""
    spike_file = unit_spike_file(tree, 0)
    without_stim_params(spike_file, 33)
    assert_refused(tree, str(spike_file), "set 33 has no stim_params")
