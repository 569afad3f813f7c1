"""The names an NWB file gives to what the release names (``ns1nwb/nwb/naming.py``, ``check_nwb_names``): distinct
raw names that would share one NWB name are refused before a file is built, one row per clash.

Each row renames folders or metadata fields of a private copy of ``base_raw`` and reads it as ``ns1nwb convert``
does (``rawedit.assert_refused``): one RawFormatError, one line naming the file and both raw names.

Issue 16 ("Internal errors" 10): these were internal errors when pynwb met the second name, or silently pooled
two ferrets as one subject. These rows were ``ns1nwb convert`` runs (tests/test_validation.py); each fails
without its check.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ns1nwb.constants import METADATA_FILE
from rawedit import (assert_refused, mat_value, move_unit, neurons, save_neurons, set_timestamps, struct,
                     timestamps_of, unit_in_first_block)


@pytest.mark.parametrize("fields, shown", [
    pytest.param({"session_id": "abc"}, "'session_id'", id="session_id"),
    pytest.param({"spike_times": 1.0}, "'spike_times'", id="spike_times"),
    pytest.param({"SpikeTimes": 1.0}, "'SpikeTimes'", id="SpikeTimes"),
    pytest.param({"noise_ratio": 1.0}, "'noise_ratio'", id="two-fields-one-column"),
])
def test_metadata_field_clashing_with_a_column(tree: Path, fields: dict[str, Any], shown: str) -> None:
    """Extra metadata fields named like a column ns1nwb writes (or two fields naming one column) gave duplicate
    columns: an internal error."""
    neuron = neurons(tree)
    columns = {name: [rec[name] for rec in neuron.ravel()] for name in neuron.dtype.names}
    columns.update({name: [mat_value(value)] * neuron.size for name, value in fields.items()})
    save_neurons(tree, struct(neuron.shape, columns))
    assert_refused(tree, str(tree / METADATA_FILE), "metadata field", shown, "column")


def test_folders_giving_one_device_name(tree: Path) -> None:
    """Folders ``exp45_1x32`` and ``exp45.1x32`` both became device ``probe_exp45_1x32``: an internal error when
    the second was added."""
    moved = move_unit(tree, 1, "exp45.1x32/P02-SH.En.C.U/cluster.12.data.mat")
    assert_refused(tree, str(moved), "'exp45_1x32'", "'exp45.1x32'", "probe_exp45_1x32")


def test_folders_giving_one_group_name(tree: Path) -> None:
    """``exp45_1x32/P04.a`` and ``exp45_1x32.P04/a`` would both be electrode group ``exp45_1x32.P04.a``."""
    move_unit(tree, 0, "exp45_1x32/P04.a/cluster.07.data.mat")
    moved = move_unit(tree, 1, "exp45_1x32.P04/a/cluster.12.data.mat")
    assert_refused(tree, str(moved), "probe folders", "exp45_1x32.P04.a")


def test_ferret_folders_giving_one_subject(tree: Path) -> None:
    """Ferret folders ``exp.45`` and ``exp-45`` would both be subject ``exp-45`` (DANDI's labels keep letters,
    digits and '-'): two ferrets pooled as one."""
    move_unit(tree, 0, "exp.45_1x32/P04-SH.En.C.U/cluster.07.data.mat")
    moved = move_unit(tree, 1, "exp-45_4x8/P02-SH.En.C.U/cluster.12.data.mat")
    assert_refused(tree, str(moved), "ferret folders", "'exp.45'", "'exp-45'")


def test_blocks_giving_one_session_id(tree: Path) -> None:
    """Two blocks of one penetration starting in the same second would both be session
    ``exp45-P04-<start>`` (and write one DANDI file)."""
    second = unit_in_first_block(tree)
    stamps = timestamps_of(second)
    assert min(min(s) for s in stamps)[-3:] != "999"  # 1 ms later is still the same second
    later = {(s, r): (dt.datetime.strptime(stamp, "%Y%m%d-%H%M%S%f") + dt.timedelta(milliseconds=1))
             .strftime("%Y%m%d-%H%M%S%f")[:-3] for s, row in enumerate(stamps) for r, stamp in enumerate(row)}
    set_timestamps(second, later)
    assert_refused(tree, str(second), "would both be session", "same ferret")
