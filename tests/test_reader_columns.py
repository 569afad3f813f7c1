"""Issue 15.4: the reader reads the new column names (spike_trial, metadata_row) and the old ones alike.

New-style: ``units/spike_trial`` (its ragged index ``units/spike_trial_index``) and ``units/metadata_row``
(-1 for clusters the metadata does not name); old-style (ns1nwb 0.1): ``units/spike_trial_index`` (index
``spike_trial_index_index``) and ``units/metadata_index``. Both styles are made from one converted file by
renaming datasets with h5py, so the tests hold whichever names the writer uses.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from readedit import copy, row_column, to_new_style, to_old_style

import ns1nwb

HIDDEN = {"spike_times", "spike_trial", "spike_trial_index", "spike_trial_index_index", "obs_intervals",
          "electrodes"}


@pytest.fixture(scope="module")
def styles(sample_nwb: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("styles")
    return {"old": to_old_style(copy(sample_nwb, base / "old.nwb")),
            "new": to_new_style(copy(sample_nwb, base / "new.nwb"))}


def test_the_copies_have_the_names_they_should(styles):
    with h5py.File(styles["old"], "r") as f:
        assert {"spike_trial_index", "spike_trial_index_index", "metadata_index"} <= set(f["units"])
        assert "spike_trial" not in f["units"] and "metadata_row" not in f["units"]
    with h5py.File(styles["new"], "r") as f:
        units = f["units"]
        assert {"spike_trial", "spike_trial_index", "metadata_row"} <= set(units)
        assert "spike_trial_index_index" not in units and "metadata_index" not in units
        # The new index is the ragged index of spike_trial: as long as the units table.
        assert units["spike_trial_index"].shape == units["spike_times_index"].shape


@pytest.mark.parametrize("style", ["old", "new"])
def test_both_styles_read_the_same(sample_raw, sample_nwb, styles, style):
    from reference import seed_grid

    with ns1nwb.open(styles[style]) as rec, ns1nwb.open(sample_nwb) as reference:
        np.testing.assert_array_equal(rec.response_grid(), seed_grid(sample_raw))
        np.testing.assert_array_equal(rec.response_grid(stimuli=[21], units=[5, 1]),
                                      reference.response_grid(stimuli=[21], units=[5, 1]))
        np.testing.assert_array_equal(rec.trial_spike_times_ms(2, 7, 3), reference.trial_spike_times_ms(2, 7, 3))
        block = rec.to_neo(unit=1)
        assert sum(len(s.spiketrains[0]) for s in block.segments) == int(rec.units.n_spikes[1])
        units = rec.units
        assert list(units.unit_name) == list(reference.units.unit_name)
        assert list(units.n_spikes) == list(reference.units.n_spikes)
        row = "metadata_row" if style == "new" else "metadata_index"
        assert list(units[row]) == list(range(len(units)))


@pytest.mark.parametrize("style", ["old", "new"])
def test_units_hide_per_spike_and_ragged_columns(styles, style):
    with ns1nwb.open(styles[style]) as rec, h5py.File(styles[style], "r") as f:
        columns = set(rec.units.columns)
        ragged = {name for name in f["units"] if f"{name}_index" in f["units"]}
    assert not columns & HIDDEN, columns & HIDDEN
    assert not columns & ragged
    assert not any(c.endswith("_index_index") for c in columns)
    assert {"unit_name", "session_id", "is_good", "n_spikes"} <= columns


@pytest.mark.parametrize("style", ["old", "new"])
def test_units_without_a_metadata_row_come_last_in_file_order(sample_nwb, styles, style, tmp_path):
    """Metadata units by metadata row first, then the rest (-1: not in the metadata) in file order."""
    path = copy(styles[style], tmp_path / "rows.nwb")
    rows = np.array([3, -1, 0, -1, 2, 1, -1, 4], dtype=np.int32)
    with h5py.File(path, "r+") as f:
        f["units"][row_column(f)][:] = rows
        names = [n.decode() for n in f["units/unit_name"][:]]
    order = [2, 5, 4, 0, 7, 1, 3, 6]
    with ns1nwb.open(path) as rec, ns1nwb.open(sample_nwb) as by_file:
        assert list(rec.units.unit_name) == [names[i] for i in order]
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
            f["units"][row_column(f)][:] = np.array(rows, dtype=np.int32)
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
