"""``benchmarks/make_release_sized_tree.py``: the copies it adds are clusters ``convert --all-clusters`` reads
whole, each with its original's spikes and quality code; bad arguments write nothing."""

from __future__ import annotations

import importlib.util
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import ns1nwb
from ns1nwb.constants import SPECTROGRAM_FILE, SPIKES_DIR, WAV_DIR
from clusters import add_cluster, write_quality
from rawedit import unit_paths

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def tree_module():
    """The script as a module (``benchmarks/`` is not a package; its ``_common`` sits beside it)."""
    import sys

    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("make_release_sized_tree",
                                                      BENCHMARKS / "make_release_sized_tree.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def small_tree(base_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 metadata units, one other cluster, a clusterquality.mat in one folder and none in the other (no wavs,
    no test_data_5ms.mat: the rows are about clusters)."""
    root = Path(shutil.copytree(base_raw, tmp_path_factory.mktemp("small") / "raw",
                                ignore=shutil.ignore_patterns(WAV_DIR, SPECTROGRAM_FILE)))
    first = root / SPIKES_DIR / unit_paths(root)[0]  # exp45_1x32/P04-SH.En.C.U/cluster.07.data.mat
    add_cluster(first, first.with_name("cluster.03.data.mat"))
    write_quality(first.parent, [3, 3, 2, 3, 3, 3, 1])
    return root


def _units(nwb: Path) -> dict[str, tuple[int, int, bool]]:
    """spike file -> (spike count, cluster_quality, in_metadata), read with h5py."""
    with h5py.File(nwb, "r") as f:
        units = f["units"]
        ends = units["spike_times_index"][:].astype(np.int64)
        counts = np.diff(np.concatenate([[0], ends]))
        names = [v.decode() if isinstance(v, bytes) else str(v) for v in units["spike_file"][:]]
        return {name: (int(n), int(q), bool(m)) for name, n, q, m in
                zip(names, counts, units["cluster_quality"][:], units["in_metadata"][:])}


def test_copies_are_clusters_with_their_originals_spikes_and_codes(tree_module, small_tree, tmp_path):
    out = tmp_path / "big"
    assert tree_module.main([str(out), "--raw", str(small_tree), "--clusters", "8"]) == 0
    nwb = tmp_path / "big.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns1nwb.convert(out, nwb, audio_rate_hz=None, all_clusters=True)
    units = _units(nwb)
    assert len(units) == 8 and sum(m for _, _, m in units.values()) == 2
    # 3 originals; each copied once (NN + 100), then the first 2 in path order again (NN + 200).
    for name, (n_spikes, quality, in_metadata) in units.items():
        folder, file = name.rsplit("/", 1)
        number = int(file.split(".")[1])
        if number > 100:
            original = units[f"{folder}/cluster.{number % 100:02d}.{file.split('.', 2)[2]}"]
            assert not in_metadata and (n_spikes, quality) == original[:2], name
    numbers = sorted(int(name.rsplit("/", 1)[1].split(".")[1]) for name in units)
    assert numbers == [3, 7, 12, 103, 107, 112, 203, 207]
    assert units["exp45_1x32/P04-SH.En.C.U/cluster.103.data.mat"][1] == 2
    assert units["exp57_B4x8/P03-SH_En_C.Rsh3/cluster.112.data.mat"][1] == -1  # its folder has no codes


@pytest.mark.parametrize("clusters", ["2", "10"])
def test_a_cluster_count_it_cannot_make_writes_nothing(tree_module, small_tree, tmp_path, clusters, capsys):
    out = tmp_path / "big"
    assert tree_module.main([str(out), "--raw", str(small_tree), "--clusters", clusters]) == 2
    assert "--clusters must lie in 3-9" in capsys.readouterr().err and not out.exists()


def test_an_existing_folder_is_left_alone(tree_module, small_tree, tmp_path, capsys):
    (tmp_path / "big").mkdir()
    assert tree_module.main([str(tmp_path / "big"), "--raw", str(small_tree)]) == 2
    assert "exists" in capsys.readouterr().err and not any((tmp_path / "big").iterdir())
