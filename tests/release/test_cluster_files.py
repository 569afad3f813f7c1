"""Which ``.mat`` files under ``spikesandwav/`` are cluster files (``ns1nwb/release/cluster_files.py``), issue 25
item 2: one file per cluster number and folder, the release's names only, every file not read counted with why.

The rows are folders' names as :func:`classify_folder` sees them; one raw tree (a copy of the generated one)
holds stray copies, other spellings and other cases beside real cluster files and is read with
``all_clusters``; the real release's names are all cluster files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from clusters import write_quality
from ns1nwb import read_raw_tree
from ns1nwb.constants import SPIKES_DIR
from ns1nwb.exceptions import Ns1Warning, StrictModeError
from ns1nwb.release.cluster_files import (DUPLICATE_NUMBER, NOT_A_CLUSTER_NAME, UnreadFile, classify_folder,
                                          describe_unread)
from rawedit import assert_refused, unit_paths, unit_spike_file

C13, C13_1, C013 = "cluster.13.data.mat", "cluster.13.data_1.mat", "cluster.013.data.mat"


@pytest.mark.parametrize("names, read, clusters, duplicates, not_clusters", [
    pytest.param(["cluster.01.data.mat", "cluster.02.data.mat", "clusterquality.mat"], [],
                 ["cluster.01.data.mat", "cluster.02.data.mat"], [], [], id="release-names"),
    pytest.param(["cluster.07.data.mat", "cluster.07.data copy.mat"], ["cluster.07.data.mat"],
                 [], [], ["cluster.07.data copy.mat"], id="a-copy-is-no-cluster-file"),
    pytest.param([C13, C13_1, C013], [C13], [], [(C013, C13), (C13_1, C13)], [], id="three-spellings-of-13-read"),
    pytest.param([C013, C13_1, C13], [], [C13], [(C013, C13), (C13_1, C13)], [], id="three-spellings-of-13"),
    pytest.param(["cluster.5.data.mat", "cluster.05.data_1.mat"], [],
                 ["cluster.05.data_1.mat"], [("cluster.5.data.mat", "cluster.05.data_1.mat")], [],
                 id="the-fallback-name-before-another-spelling"),
    pytest.param([C013, C13], [C013], [], [(C13, C013)], [], id="the-file-read-holds-its-number"),
    pytest.param(["cluster.05.data_1.mat", "cluster.100.data.mat"], [],
                 ["cluster.05.data_1.mat", "cluster.100.data.mat"], [], [], id="fallback-alone-and-3-digits"),
    pytest.param(["Cluster.02.data.mat", "cluster.03.data.MAT", "CLUSTERQUALITY.MAT", "cluster.01.data.mat"], [],
                 ["cluster.01.data.mat"], [], ["CLUSTERQUALITY.MAT", "Cluster.02.data.mat", "cluster.03.data.MAT"],
                 id="names-are-lower-case"),
    pytest.param(["cluster.07.data_2.mat", "cluster..data.mat", "cluster.07.mat", "notes.mat",
                  "cluster.\u0660\u0667.data.mat", "._cluster.07.data.mat", "cluster.07.data.mat.mat"], [],
                 [], [], sorted(["cluster.07.data_2.mat", "cluster..data.mat", "cluster.07.mat", "notes.mat",
                                 "cluster.\u0660\u0667.data.mat", "._cluster.07.data.mat", "cluster.07.data.mat.mat"]),
                 id="other-names"),
    pytest.param(["unit7.mat", "cluster.07.data.mat"], ["unit7.mat"], ["cluster.07.data.mat"], [], [],
                 id="the-metadata-may-name-any-file"),
])
def test_classify_folder(names, read, clusters, duplicates, not_clusters):
    files = classify_folder(names, read)
    assert (files.clusters, files.duplicates, files.not_clusters) == (clusters, duplicates, not_clusters)


def test_describe_unread_counts_each_reason():
    unread = [UnreadFile(f"a/b/cluster.0{i}.data_1.mat", DUPLICATE_NUMBER, f"a/b/cluster.0{i}.data.mat")
              for i in range(1, 5)] + [UnreadFile("a/b/Cluster.02.data.mat", NOT_A_CLUSTER_NAME)]
    line = describe_unread(unread)
    assert line.startswith("5 .mat files under spikesandwav/ not read: 4 duplicate cluster numbers (")
    assert "a/b/cluster.03.data_1.mat, ..." in line and "a/b/cluster.04" not in line
    assert line.endswith("1 not a cluster file name (a/b/Cluster.02.data.mat)") and "\n" not in line


def _stray_files(tree: Path) -> tuple[str, list[str], list[str]]:
    """Stray copies, other spellings and other cases beside the two units' files, and one more real cluster
    (``cluster.03.data.mat``). Returns (that cluster's path, the duplicates', the other names'), relative to
    ``spikesandwav/``."""
    first, second = unit_spike_file(tree, 0), unit_spike_file(tree, 1)  # cluster.07 and cluster.12
    assert (first.name, second.name) == ("cluster.07.data.mat", "cluster.12.data.mat")
    duplicates = [first.with_name("cluster.07.data_1.mat"), first.with_name("cluster.007.data.mat"),
                  first.with_name("cluster.3.data.mat"), second.with_name("cluster.12.data_1.mat")]
    others = [first.with_name("cluster.07.data copy.mat"), first.with_name("Cluster.02.data.mat"),
              first.with_name("cluster.04.data.MAT")]
    extra = first.with_name("cluster.03.data.mat")
    for path in [extra, *duplicates, *others]:
        shutil.copy(first, path)
    write_quality(first.parent, [3, 3, 1, 3, 3, 3, 2])
    rel = lambda paths: sorted(p.relative_to(tree / SPIKES_DIR).as_posix() for p in paths)  # noqa: E731
    return rel([extra])[0], rel(duplicates), rel(others)


def test_stray_copies_under_all_clusters(tree):
    """Each cluster once: one warning names the files with a taken number, the summary counts every .mat not
    read with why; without ``all_clusters`` the same count, no warning; with ``strict`` the warning is the error."""
    extra, duplicates, others = _stray_files(tree)
    with pytest.warns(Ns1Warning) as caught:
        release = read_raw_tree(tree, all_clusters=True)
    assert [u.path for u in release.units] == unit_paths(tree) + [extra]
    assert [u.cluster_quality for u in release.units] == [2, None, 1]
    assert len(release.warnings) == 1 == len([w for w in caught if issubclass(w.category, Ns1Warning)])
    assert all(path in release.warnings[0] for path in duplicates)
    assert not any(path in release.warnings[0] for path in others)
    assert release.unread_clusters == []
    assert sorted(u.path for u in release.unread_files if u.reason == DUPLICATE_NUMBER) == duplicates
    assert sorted(u.path for u in release.unread_files if u.reason == NOT_A_CLUSTER_NAME) == others
    holders = {u.path.rsplit("/", 1)[1]: u.holder.rsplit("/", 1)[1] for u in release.unread_files if u.holder}
    assert holders == {"cluster.07.data_1.mat": "cluster.07.data.mat", "cluster.007.data.mat": "cluster.07.data.mat",
                       "cluster.3.data.mat": "cluster.03.data.mat", "cluster.12.data_1.mat": "cluster.12.data.mat"}
    assert "7 .mat files under spikesandwav/ not read: 4 duplicate cluster numbers (" in release.summary()
    assert "3 not cluster file names (" in release.summary()

    default = read_raw_tree(tree)  # no warning: Ns1Warnings are errors in this suite
    assert default.unread_clusters == [extra] and default.unread_files == release.unread_files
    assert_refused(tree, duplicates[0], "--strict", error=StrictModeError, strict=True, all_clusters=True)


def test_the_summary_of_a_conversion_counts_the_files_not_read():
    from ns1nwb import ConversionResult

    unread = [UnreadFile("e/p/cluster.07.data copy.mat", NOT_A_CLUSTER_NAME)]
    result = ConversionResult(output_paths=[Path("x.nwb")], n_units=1, n_spikes=1, n_trials=1, n_sessions=1,
                              clock="wall-clock", warnings=[], skipped_units=[], unread_files=unread)
    assert result.summary().splitlines()[-1] == describe_unread(unread)
    assert "not read" in describe_unread(unread)


def test_every_real_file_is_a_cluster_file(real_raw):
    """The rule accepts every file of the real release: each folder's .mat files are its cluster files and
    clusterquality.mat, one per number."""
    n_clusters = 0
    for folder, _, names in os.walk(real_raw / SPIKES_DIR):
        mats = [n for n in names if n.lower().endswith(".mat")]
        files = classify_folder(mats)
        assert (files.duplicates, files.not_clusters) == ([], []), folder
        n_clusters += len(files.clusters)
    assert n_clusters == 279
