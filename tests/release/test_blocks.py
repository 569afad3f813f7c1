"""Recording blocks and their clock (``ns1nwb/release/blocks.py``, :func:`ns1nwb.release.plan_blocks`): timestamps
that would put a block on a wrong clock are refused, one row per fault; what the release holds is planned.

Each row edits the timestamps of a private copy of ``base_raw`` (unit 0 of ferret exp45 in the earliest block,
unit 1 of exp57 in the last) and reads it as ``ns1nwb convert`` does (``rawedit.assert_refused``): one
RawFormatError, one line naming the file that holds the odd timestamp.

Issue 16 ("Silent corruption" 4, 5, 9): a unit carrying another ferret's timestamps joined its block, a file
without timestamps beside stamped ones mixed clocks, a year-2999 timestamp made a 987-year block, identical
or overlapping timestamps put trials on top of each other. These rows were ``ns1nwb convert`` runs
(tests/test_validation.py); each fails without its check.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from ns1nwb import read_raw_tree
from ns1nwb.nwb.naming import check_nwb_names
from ns1nwb.release import plan_blocks
from rawedit import (assert_refused, drop_timestamps, set_sweep, set_timestamps, timestamps_of, unit_in_first_block,
                     unit_spike_file, without_stim_params)

#: Unit 0 (exp45, Dec 2012) is the earliest recording block, unit 1 (exp57) the last.
EARLIEST, LAST = 0, 1


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize("shared", ["all", "one"])
def test_two_ferrets_with_shared_timestamps(tree: Path, shared: str) -> None:
    """Issue 16 item 4: an exp57 unit whose file carries exp45's timestamps (all of them, or just one) was put
    in exp45's recording block with ``subject_id`` exp45. Now: a block has one subject."""
    first, second = unit_spike_file(tree, 0), unit_spike_file(tree, 1)
    if shared == "all":
        shutil.copy(first, second)
    else:
        set_timestamps(second, {(5, 2): timestamps_of(first)[0][0]})
    assert_refused(tree, str(second), "timestamps", "'exp45'", "'exp57'")


def test_timestamps_in_one_file_only(tree: Path) -> None:
    """A file without any timestamp beside files with them: the tree would mix wall-clock and synthetic
    blocks. Every presentation of the tree is timestamped, or none."""
    spike_file = unit_spike_file(tree, 1)
    drop_timestamps(spike_file)
    assert_refused(tree, str(spike_file), "without timestamps")


def test_synthetic_clock_sweep_longer_than_its_spacing(tree: Path) -> None:
    """Without timestamps presentations sit 10 s apart: a 25-s sweep (inside the 60-s bound) overlapped 20
    trials silently. Now refused, naming the file holding it."""
    for unit in (0, 1):
        drop_timestamps(unit_spike_file(tree, unit))
    spike_file = unit_spike_file(tree, 1)
    set_sweep(spike_file, 3, 25_000.0)
    assert_refused(tree, str(spike_file), "25000-ms sweep", "length_signal_ms", "synthetic")


@pytest.mark.parametrize("year", ["2999", "1900"])
def test_timestamp_far_off(tree: Path, year: str) -> None:
    """Issue 16 item 9: one timestamp in year 2999 made a 987-year block (spike times off by 1.9e-3 ms).
    A block lasts at most a day."""
    spike_file = unit_spike_file(tree, LAST)
    stamp = timestamps_of(spike_file)[31][4]
    set_timestamps(spike_file, {(31, 4): year + stamp[4:]})
    assert_refused(tree, str(spike_file), "timestamps", f"'{year}", "24 h")


@pytest.mark.parametrize("year", ["2999", "1900"])
def test_timestamp_far_off_names_its_file(tree: Path, year: str) -> None:
    """In a block of two files the error names the file holding the odd timestamp (it named the block's first
    file)."""
    second = unit_in_first_block(tree)
    stamp = timestamps_of(second)[31][4]
    set_timestamps(second, {(31, 4): year + stamp[4:]})
    assert_refused(tree, str(second), f"'{year}", "24 h")


def test_all_460_timestamps_identical(tree: Path) -> None:
    """Issue 16 item 9: all 460 timestamps alike put every trial at 0.0. A file repeating a timestamp in a set
    is refused."""
    spike_file = unit_spike_file(tree, 0)
    stamps = timestamps_of(spike_file)
    set_timestamps(spike_file, {(s, r): stamps[0][0] for s, row in enumerate(stamps) for r in range(len(row))})
    assert_refused(tree, str(spike_file), "set 1", "two repeats", repr(stamps[0][0]))


def test_overlapping_presentations(tree: Path) -> None:
    """Two sounds at one time (set 2's first timestamp copied from set 1): presentations may not overlap. In a
    block of two files the file holding the later presentation is named."""
    second = unit_in_first_block(tree)
    stamp = timestamps_of(second)[0][0]
    set_timestamps(second, {(1, 0): stamp})
    assert_refused(tree, str(second), "stimulus 1", repr(stamp), "sweep ends")


# --------------------------------------------------------------------------- planned


def _planned(root: Path):
    """What ``ns1nwb convert`` checks before writing, passed (an Ns1Warning would fail the test: pyproject)."""
    release = read_raw_tree(root)
    plan = plan_blocks(release)
    check_nwb_names(release, plan)
    return release, plan


def test_the_sample_tree_passes_every_check(tree: Path) -> None:
    """The generated tree passes every check (as the real release does: tests/nwb/test_convert.py)."""
    release, plan = _planned(tree)
    assert len(release.units) == 2 and release.warnings == []
    assert plan.clock == "wall-clock" and [b.unit_indices for b in plan.blocks] == [[0], [1]]
    assert [b.ferret for b in plan.blocks] == ["exp45", "exp57"]


def test_a_tree_without_timestamps_is_on_the_synthetic_clock(tree: Path) -> None:
    """No timestamp anywhere (older exports): the synthetic clock, 10 s between presentations, blocks 6 h apart
    (converted, and every spike found again, in tests/nwb/test_convert.py)."""
    for unit in (0, 1):
        drop_timestamps(unit_spike_file(tree, unit))
    release, plan = _planned(tree)
    assert plan.clock == "synthetic" and len(plan.blocks) == 2
    onsets = [p.onset_ms for p in plan.blocks[0].presentations]
    assert onsets == [10_000.0 * i for i in range(460)]
    assert plan.blocks[1].start - plan.blocks[0].start == dt.timedelta(hours=6)


def test_32_sets_without_stim_params_are_read_by_position(tree: Path) -> None:
    """Older exports without ``stim_params``: 32 sets are still identified by position (and convert:
    tests/nwb/test_convert.py)."""
    without_stim_params(unit_spike_file(tree, 0), 32)
    release, plan = _planned(tree)
    assert [s.stimulus_index for s in release.units[0].sets] == list(range(32))
    assert all(s.stim_params == {} for s in release.units[0].sets)
    assert len(plan.blocks[0].presentations) == 460
