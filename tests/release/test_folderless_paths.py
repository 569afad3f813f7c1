"""Read what the seed reads (issue 22, item F): a metadata path that is not <experiment>/<penetration>/<file>
(e.g. ``units/F1300_u000.mat``) is converted, its ferret and probe 'unknown' with a warning naming the file;
the grid stays the seed's; a path leaving spikesandwav/ is still refused."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import ns1nwb
from ns1nwb.constants import METADATA_FILE, SPIKES_DIR, WAV_DIR
from ns1nwb.exceptions import Ns1Warning, RawFormatError, StrictModeError
from ns1nwb.sample_data import write_sample_tree
from rawedit import neurons, save_neurons, unit_paths
from reference import seed_grid


def _moved(root: Path, new_path: str, unit: int = 0) -> Path:
    """Move unit ``unit``'s spike file to spikesandwav/``new_path`` and point the metadata there."""
    table = neurons(root)
    source = root / SPIKES_DIR / unit_paths(root)[unit]
    target = root / SPIKES_DIR / new_path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, target)
    table[0, unit]["path"] = np.array([new_path])
    save_neurons(root, table)
    return target


@pytest.fixture(scope="module")
def flat_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_sample_tree(tmp_path_factory.mktemp("flat") / "raw", n_units=4, seed=0, with_spectrogram=False)  # units 0, 1: one block
    shutil.rmtree(root / SPIKES_DIR / WAV_DIR)  # the rows are about paths and spikes: no sounds to write
    _moved(root, "units/F1300_u000.mat", 0)
    _moved(root, "F1300_u001.mat", 1)  # straight in spikesandwav/
    return root


@pytest.mark.parametrize("path", ["units/F1300_u000.mat", "F1300_u001.mat"])
def test_a_folderless_path_is_read_with_a_warning_naming_it(flat_tree, path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        release = ns1nwb.read_raw_tree(flat_tree)
    said = [str(w.message) for w in caught if issubclass(w.category, Ns1Warning) and repr(path) in str(w.message)]
    assert len(said) == 1 and "'unknown'" in said[0] and METADATA_FILE in said[0] and "\n" not in said[0]
    unit = next(u for u in release.units if u.path == path)
    assert (unit.ferret, unit.experiment, unit.penetration, unit.penetration_label) == ("unknown",) * 4
    assert unit.n_spikes > 0
    with pytest.raises(StrictModeError, match="F1300_u00.*'unknown'"):
        ns1nwb.read_raw_tree(flat_tree, strict=True)


def test_the_file_says_unknown_and_reads_as_the_seed(flat_tree, tmp_path):
    metadata = tmp_path / "m.yaml"
    metadata.write_text("subjects:\n  unknown: {sex: F, age: P9M}\n")
    out = tmp_path / "flat.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns1nwb.convert(flat_tree, out, metadata_path=metadata)
    with h5py.File(out, "r") as f:
        subjects = [v.decode() for v in f["units/subject_id"][:]]
        groups = [f[ref].name.rsplit("/", 1)[-1] for ref in f["units/electrode_group"][:]]
        files = [v.decode() for v in f["units/spike_file"][:]]
    assert subjects[:2] == ["unknown", "unknown"] and subjects[2] != "unknown"
    assert groups[0] == groups[1] == "unknown.unknown"
    assert files[:2] == ["units/F1300_u000.mat", "F1300_u001.mat"]
    with ns1nwb.open(out) as rec:
        grid = rec.response_grid()
    np.testing.assert_array_equal(grid, seed_grid(flat_tree))
    # Its own session file for DANDI, with the subject the metadata gives "unknown".
    folder = tmp_path / "dandiset"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns1nwb.convert(flat_tree, folder, dandi=True, metadata_path=metadata)
    unknown = sorted((folder / "sub-unknown").glob("*.nwb"))
    assert unknown
    with h5py.File(unknown[0], "r") as f:
        assert f["general/subject/sex"][()].decode() == "F" and f["general/subject/age"][()].decode() == "P9M"


@pytest.mark.parametrize("bad", ["../x.mat", "units/../../x.mat", "/etc/passwd"])
def test_a_path_leaving_spikesandwav_is_still_refused(lean_tree, bad):
    root = lean_tree
    table = neurons(root)
    table[0, 0]["path"] = np.array([bad])
    save_neurons(root, table)
    with pytest.raises(RawFormatError, match=re.escape(METADATA_FILE)):
        ns1nwb.read_raw_tree(root)
