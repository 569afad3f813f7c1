"""The reader's view of the units table: per-unit columns only, and the units in metadata order.

The reader reads the column names ns1nwb writes (``units/spike_trial``, its ragged index
``units/spike_trial_index``, ``units/metadata_row``: -1 for clusters the metadata does not name).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from readedit import copy

import ns1nwb

HIDDEN = {"spike_times", "spike_trial", "spike_trial_index", "obs_intervals", "electrodes"}


def test_the_file_has_the_names_the_reader_reads(sample_nwb):
    with h5py.File(sample_nwb, "r") as f:
        units = f["units"]
        assert {"spike_trial", "spike_trial_index", "metadata_row"} <= set(units)
        # The index is the ragged index of spike_trial: as long as the units table.
        assert units["spike_trial_index"].shape == units["spike_times_index"].shape


def test_a_file_of_other_names_is_not_an_ns1nwb_file(sample_nwb, tmp_path):
    """The names of ns1nwb 0.1 (spike_trial_index with its index spike_trial_index_index), never released."""
    path = copy(sample_nwb, tmp_path / "old.nwb")
    with h5py.File(path, "r+") as f:
        units = f["units"]
        units.move("spike_trial_index", "spike_trial_index_index")
        units.move("spike_trial", "spike_trial_index")
    with pytest.raises(ns1nwb.NwbContentError, match="old.nwb: not an ns1nwb file .*units/spike_trial missing"):
        ns1nwb.open(path)


def test_units_hide_per_spike_and_ragged_columns(sample_nwb):
    with ns1nwb.open(sample_nwb) as rec, h5py.File(sample_nwb, "r") as f:
        columns = set(rec.units.columns)
        ragged = {name for name in f["units"] if f"{name}_index" in f["units"]}
    assert not columns & HIDDEN, columns & HIDDEN
    assert not columns & ragged
    assert {"unit_name", "session_id", "is_good", "n_spikes", "metadata_row"} <= columns


def test_units_without_a_metadata_row_come_last_in_file_order(sample_nwb, tmp_path):
    """Metadata units by metadata row first, then the rest (-1: not in the metadata) in file order."""
    path = copy(sample_nwb, tmp_path / "rows.nwb")
    rows = np.array([3, -1, 0, -1, 2, 1, -1, 4], dtype=np.int32)
    with h5py.File(path, "r+") as f:
        f["units/metadata_row"][:] = rows
        names = [n.decode() for n in f["units/unit_name"][:]]
    order = [2, 5, 4, 0, 7, 1, 3, 6]
    with ns1nwb.open(path) as rec, ns1nwb.open(sample_nwb) as by_file:
        assert list(rec.units.unit_name) == [names[i] for i in order]
        assert list(rec.units.metadata_row) == [0, 1, 2, 3, 4, -1, -1, -1]
        np.testing.assert_array_equal(rec.response_grid(stimuli=[2]), by_file.response_grid(stimuli=[2])[order])
        np.testing.assert_array_equal(rec.trial_spike_times_ms(1, 0, 0), by_file.trial_spike_times_ms(5, 0, 0))


def test_a_folder_orders_metadata_units_first_then_the_others_file_by_file(sample_nwb, tmp_path):
    """Across files: metadata rows first (whatever the file), then the files' other units in file order."""
    folder = tmp_path / "folder"
    folder.mkdir()
    first, second = copy(sample_nwb, folder / "a.nwb"), copy(sample_nwb, folder / "b.nwb")
    for path, rows, session in [(first, [-1, 5, -1, 7, -1, -1, -1, -1], "sA"),
                                (second, [-1, -1, 1, -1, -1, -1, -1, 0], "sB")]:
        with h5py.File(path, "r+") as f:
            f["units/metadata_row"][:] = np.array(rows, dtype=np.int32)
            # Distinct files: another identifier and other sessions (the trials follow the units).
            del f["identifier"]
            f["identifier"] = f"copy-{session}"
            for table in ("units", "intervals/trials"):
                values = [s.decode() + session for s in f[f"{table}/session_id"][:]]
                del f[f"{table}/session_id"]
                f[f"{table}/session_id"] = np.array(values, dtype=h5py.string_dtype())
    with ns1nwb.open(folder) as rec, ns1nwb.open(sample_nwb) as one:
        names = list(one.units.unit_name)
        expected = [names[7], names[2], names[1], names[3]]  # rows 0, 1 (b.nwb), 5, 7 (a.nwb)
        expected += [names[i] for i in (0, 2, 4, 5, 6, 7)] + [names[i] for i in (0, 1, 3, 4, 5, 6)]
        assert list(rec.units.unit_name) == expected
        np.testing.assert_array_equal(rec.response_grid(units=[0, 4], stimuli=[1]),
                                      one.response_grid(units=[7, 0], stimuli=[1]))


def _group_names_by_h5py(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        return [f[ref].name.rsplit("/", 1)[-1] for ref in f["units/electrode_group"][:]]


@pytest.mark.parametrize("path", ["fast", "unknown address", "references not readable as addresses"])
def test_electrode_group_names_are_each_units_own(sample_nwb, monkeypatch, path):
    """Named once per group by address (h5py's references compare by identity); an address outside the
    groups' folder, or references that cannot be read as addresses, fall back to naming each one."""
    from ns1nwb.read import files

    expected = _group_names_by_h5py(sample_nwb)
    assert len(set(expected)) > 1
    if path == "unknown address":
        import h5py.h5o

        monkeypatch.setattr(h5py.h5o, "get_info", lambda *args, **kwargs: type("Info", (), {"addr": -1})())
    elif path == "references not readable as addresses":
        monkeypatch.setattr(files, "_reference_addresses", lambda column: None)
    with ns1nwb.open(sample_nwb) as rec:
        assert rec.units.electrode_group.tolist() == expected
