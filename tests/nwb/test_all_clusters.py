"""The whole release: every sorted cluster (``--all-clusters``), its quality label, a noise ratio for each.

Synthetic rows build what the shared copy of the release does not show (a 31-set file whose DRC sets
shift, 0-4 repeats per set, a folder without clusterquality.mat) from a generated tree; real rows use the
shared tree (119 metadata units and 160 other clusters). Expected values come from loadmat, not from the
reader.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io as sio

import ns1nwb
from ns1nwb.constants import SPIKES_DIR, STIMULUS_BY_KEY
from rawedit import unit_paths

KEY_FIELDS = ("Source", "Set", "StimID", "Token")


def _raw_sets(spike_file: Path) -> list[tuple[int, float, list[tuple[str, np.ndarray]]]]:
    """(stimulus index by stim_params, sweep, [(timestamp, times ms)]) of every set, with loadmat."""
    sets = sio.loadmat(spike_file)["data"][0, 0]["set"]
    out = []
    for s in range(sets.shape[1]):
        params = sets[0, s]["stim_params"][0, 0]
        key = tuple(int(params[k].item()) for k in KEY_FIELDS)
        reps = sets[0, s]["repeats"]
        repeats = [(str(reps[0, r]["timestamp"].item()), np.asarray(reps[0, r]["t"], float).ravel())
                   for r in range(reps.shape[1] if reps.size else 0)]
        out.append((STIMULUS_BY_KEY[key].index, float(sets[0, s]["length_signal_ms"].item()), repeats))
    return out


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def test_default_converts_the_metadata_units_and_says_what_it_left(cluster_nwbs):
    """What ``ns1nwb convert`` prints (the result's summary) names the clusters it left."""
    default, _, result = cluster_nwbs
    assert ("3 cluster files under spikesandwav/ are not in the metadata and were not converted "
            "(--all-clusters converts them)") in result.summary()
    with h5py.File(default, "r") as f:
        assert f["units/in_metadata"][:].tolist() == [True, True]


def test_all_clusters_units_order_and_columns(cluster_raw, cluster_nwbs):
    _, everything, _ = cluster_nwbs
    expected_paths = unit_paths(cluster_raw) + [
        "exp45_1x32/P04-SH.En.C.U/cluster.03.data.mat", "exp45_1x32/P04-SH.En.C.U/cluster.09.data.mat",
        "exp45_1x32/P05-SH.En.C.D/cluster.01.data.mat"]
    with h5py.File(everything, "r") as f:
        units = f["units"]
        assert _text(units["spike_file"][:]) == expected_paths
        assert units["in_metadata"][:].tolist() == [True, True, False, False, False]
        assert units["metadata_row"][:].tolist() == [0, 1, -1, -1, -1]
        # clusterquality.mat: cluster.07 -> 2, cluster.12 -> 1, .03 -> 3, .09 -> 1; no file in P05 -> -1.
        assert units["cluster_quality"][:].tolist() == [2, 1, 3, 1, -1]
        assert "1 single unit, 2 probable single unit, 3 multi-unit" in units["cluster_quality"].attrs["description"]
        # No metadata: missing values as documented, never invented.
        assert np.isnan(units["depth_um"][2:]).all() and np.isnan(units["noise_ratio"][2:]).all()
        assert _text(units["single_unit_label"][2:]) == ["", "", ""]
        assert units["single_unit_code"][2:].tolist() == [-1, -1, -1]
        assert units["site_number"][2:].tolist() == [0, 0, 0]
        assert units["is_good"][2:].tolist() == [False, False, False]
        # Their group comes from the folder; their site is unknown (no electrode).
        groups = [f[ref].name.rsplit("/", 1)[-1] for ref in units["electrode_group"][:]]
        assert groups[2:] == ["exp45_1x32.P04-SH.En.C", "exp45_1x32.P04-SH.En.C", "exp45_1x32.P05-SH.En.C"]
        ends = units["electrodes_index"][:].astype(int)
        assert np.diff(np.concatenate([[0], ends])).tolist() == [1, 1, 0, 0, 0]
        assert np.isfinite(units["noise_ratio_computed"][:2]).all()
        # A later recording of the same penetration is its own block, with its own trials.
        sessions = _text(units["session_id"][:])
        assert len(set(sessions)) == 4 and sessions[3] != sessions[0] and sessions[2] == sessions[0]
        assert len(f["intervals/recording_blocks/id"]) == 4


def test_all_clusters_keep_every_spike_in_its_presentation(cluster_raw, cluster_nwbs):
    """Each raw repeat, identified by its set's stim_params and its timestamp (never by position: the 31-set
    file's DRC sets are shifted), is one trial holding exactly its spikes; every presentation is a trial."""
    _, everything, _ = cluster_nwbs
    with h5py.File(everything, "r") as f:
        units, trials = f["units"], f["intervals/trials"]
        files = _text(units["spike_file"][:])
        sessions = _text(units["session_id"][:])
        ends = units["spike_times_index"][:].astype(int)
        starts = np.concatenate([[0], ends[:-1]])
        times, rows = units["spike_times"][:], units["spike_trial"][:].astype(int)
        trial_start = trials["start_time"][:]
        key_of_row = list(zip(_text(trials["session_id"][:]), trials["stimulus_index"][:].tolist(),
                              _text(trials["onset_timestamp"][:])))
        row_of = {key: row for row, key in enumerate(key_of_row)}
        assert len(row_of) == len(key_of_row)
        presentations = set()
        for u, name in enumerate(files):
            mine_t, mine_rows = times[starts[u]:ends[u]], rows[starts[u]:ends[u]]
            n_raw = 0
            for stimulus, sweep, repeats in _raw_sets(cluster_raw / SPIKES_DIR / name):
                for stamp, raw in repeats:
                    row = row_of[(sessions[u], stimulus, stamp)]
                    presentations.add((sessions[u], stimulus, stamp))
                    got = np.sort((mine_t[mine_rows == row] - trial_start[row]) * 1000.0)
                    np.testing.assert_allclose(got, np.sort(raw), atol=1e-8, rtol=0)
                    n_raw += raw.size
            assert n_raw == ends[u] - starts[u]
        assert presentations == set(key_of_row)


def test_grid_of_the_metadata_units_equals_the_default_file(cluster_nwbs):
    default, everything, _ = cluster_nwbs
    with ns1nwb.open(default) as small, ns1nwb.open(everything) as large:
        np.testing.assert_array_equal(large.response_grid(units=large.units.in_metadata), small.response_grid())
        assert len(large.units) == 5 and large.units.in_metadata.sum() == 2


def test_observation_intervals_of_a_cluster_with_few_repeats(cluster_raw, cluster_nwbs):
    """The 31-set cluster with 0-4 repeats per set was observed in exactly its own sweeps."""
    _, everything, _ = cluster_nwbs
    n_presentations = sum(len(repeats) for *_, repeats in
                          _raw_sets(cluster_raw / SPIKES_DIR / "exp45_1x32/P04-SH.En.C.U/cluster.09.data.mat"))
    with h5py.File(everything, "r") as f:
        ends = np.concatenate([[0], f["units/obs_intervals_index"][:].astype(int)])
        obs = f["units/obs_intervals"][ends[3]:ends[4]]
        assert obs.shape == (n_presentations, 2)


def test_dandi_files_of_all_clusters_agree_with_the_pooled_file(cluster_dandi, cluster_nwbs):
    """--dandi --all-clusters: a file per block (4), each with the same unit columns (``electrodes`` only where
    a unit has a site), so the folder reads as the pooled file: ``is_good`` a boolean column for every unit
    (False in a block of clusters the metadata does not name), the same grids, the same info counts."""
    from ns1nwb.info import summarize

    folder = cluster_dandi
    files = sorted(folder.rglob("*.nwb"))
    columns, metadata_units = [], []
    for path in files:
        with h5py.File(path, "r") as f:
            names = set(_text(f["units"].attrs["colnames"]))
            metadata_units.append(int(f["units/in_metadata"][:].sum()))
        assert ("electrodes" in names) == (metadata_units[-1] > 0), path.name
        columns.append(names - {"electrodes"})
    assert len(files) == 4 and metadata_units.count(0) == 2  # two blocks hold only unlisted clusters
    assert all(names == columns[0] for names in columns) and "is_good" in columns[0]
    _, everything, _ = cluster_nwbs
    with ns1nwb.open(folder) as per_session, ns1nwb.open(everything) as pooled:
        good = per_session.units.is_good
        assert good.dtype == bool and good.tolist() == pooled.units.is_good.tolist() and good.sum() == 1
        np.testing.assert_array_equal(per_session.response_grid(units=good),
                                      pooled.response_grid(units=pooled.units.is_good))
    assert summarize(folder, inspect=False).n_good_units == summarize(everything, inspect=False).n_good_units == 1


# --------------------------------------------------------------------------- the real release


@pytest.mark.realdata
def test_real_all_clusters(real_raw, real_all_nwb, real_nwb, real_raw_times):
    """279 clusters (119 + 160), every spike, each with its folder's code; the 119's grid unchanged."""
    cluster_files = sorted((real_raw / SPIKES_DIR).rglob("cluster.*.data*.mat"))
    # Spikes counted with loadmat: the metadata's 119 files as real_raw_times has them; all 279 files hold
    # 6,696,044 (counted with loadmat once: re-reading the 160 others cost 4 s of every run).
    n_listed = sum(times.size for per_set in real_raw_times.values() for repeats in per_set for times in repeats)
    with h5py.File(real_all_nwb, "r") as f:
        units = f["units"]
        assert len(units["id"]) == len(cluster_files) == 279
        ends = units["spike_times_index"][:]
        assert int(ends[-1]) == 6_696_044 and int(ends[118]) == n_listed
        assert int(units["in_metadata"][:].sum()) == 119
        files = _text(units["spike_file"][:])
        codes = units["cluster_quality"][:]
        folder_codes: dict[Path, np.ndarray] = {}  # each folder's clusterquality.mat, read once
        for name, code in zip(files, codes):
            path = real_raw / SPIKES_DIR / name
            if path.parent not in folder_codes:
                folder_codes[path.parent] = sio.loadmat(path.parent / "clusterquality.mat")["clusterquality"].ravel()
            assert code == folder_codes[path.parent][int(path.name.split(".")[1]) - 1]
        assert len(f["intervals/recording_blocks/id"]) == 21
    with ns1nwb.open(real_all_nwb) as everything, ns1nwb.open(real_nwb) as default:
        np.testing.assert_array_equal(everything.response_grid(units=everything.units.in_metadata),
                                      default.response_grid())


@pytest.mark.realdata
def test_real_noise_ratio_reproduces_the_published_one(real_all_nwb):
    """noise_ratio_computed is within 2 % of the published NoiseRatio on every one of the 119."""
    with ns1nwb.open(real_all_nwb) as rec:
        units = rec.units[rec.units.in_metadata]
        relative = np.abs(units.noise_ratio_computed.to_numpy() / units.noise_ratio.to_numpy() - 1.0)
        assert len(units) == 119 and relative.max() < 0.02
        others = rec.units[~rec.units.in_metadata]
        assert not np.isnan(others.noise_ratio_computed.to_numpy()).any()  # a value for every unit
