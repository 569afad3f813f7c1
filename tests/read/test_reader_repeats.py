"""Issue 13.4: units whose recording block has fewer repeats (the all-clusters files), in grids, info and plots.

The rule under test: R = the most repeats among what was asked (the asked units' blocks' presentations of
the asked stimuli); rows a unit's block does not have are NaN. Checked against the seed's algorithm applied
to the raw spike times (``reference.py``), never against the reader itself.
"""

from __future__ import annotations

import re
import shutil
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rawedit import load_spikes, save, unit_paths, unit_spike_file
from readedit import add_unit_column, copy, remove_unit_columns
from reference import raw_repeat_times, seed_grid, seed_response

import ns1nwb
from ns1nwb.cli import cli
from ns1nwb.constants import WAV_DIR
from shared import made_once

#: The sample tree's unit alone in its recording block (dataAC/E1), so its file decides the block's repeats.
SHORT = 6
#: Repeats kept per set of SHORT's file: 16 of every natural sound but nat06 (10), 3 of drc06; drc12 dropped.
KEEP = {**{s: 16 for s in range(20)}, 5: 10, 25: 3}


def _cut_repeats(spike_file: Path, keep: dict[int, int], n_sets: int | None = None,
                 shift: timedelta | None = None) -> None:
    mat, sets = load_spikes(spike_file)
    for s, n in keep.items():
        sets[0, s]["repeats"] = sets[0, s]["repeats"][:, :n]
    if shift is not None:  # another recording block: the same protocol, later
        for s in range(sets.shape[1]):
            repeats = sets[0, s]["repeats"]
            for r in range(repeats.shape[1]):
                stamp = datetime.strptime(str(repeats[0, r]["timestamp"].item()), "%Y%m%d-%H%M%S%f") + shift
                repeats[0, r]["timestamp"] = np.array([stamp.strftime("%Y%m%d-%H%M%S%f")[:-3]])
    if n_sets is not None:
        mat["data"][0, 0]["set"] = sets[:, :n_sets]
    save(spike_file, mat)


def _convert(raw: Path, out: Path, **options) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns1nwb.convert(raw, out, **options)
    return out


def _without_wavs(raw: Path, copy: Path) -> Path:
    """A copy of the sample tree without its wavs (its test_data_5ms.mat gives the spectrograms plots draw):
    these rows are about repeats, and a file without waveforms is written several times faster."""
    return Path(shutil.copytree(raw, copy, ignore=shutil.ignore_patterns(WAV_DIR)))


@pytest.fixture(scope="session")
def short_tree(sample_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(raw tree, converted file): the sample tree with SHORT's block cut to KEEP and 31 sets."""
    def make(base: Path) -> tuple[Path, Path]:
        raw = _without_wavs(sample_raw, base / "raw")
        _cut_repeats(unit_spike_file(raw, SHORT), KEEP, n_sets=31)
        return raw, _convert(raw, base / "short.nwb", audio_rate_hz=None)

    return made_once(tmp_path_factory, "short_tree", make)


@pytest.fixture(scope="module")
def short_times(short_tree) -> list[list[np.ndarray]]:
    """SHORT's raw spike times, [set][repeat], straight from its .mat file."""
    raw, _ = short_tree
    return raw_repeat_times(raw)[unit_paths(raw)[SHORT]]


def test_the_fixture_has_what_it_claims(short_tree, short_times):
    assert len(short_times) == 31
    assert [len(short_times[s]) for s in (0, 5, 19, 20, 25, 30)] == [16, 10, 16, 5, 3, 5]
    with ns1nwb.open(short_tree[1]) as rec:
        assert rec.units.session_id[SHORT] not in set(rec.units.session_id.drop(SHORT))


def test_r_is_the_most_repeats_of_the_units_asked(short_tree, short_times):
    with ns1nwb.open(short_tree[1]) as rec:
        natural = rec.response_grid(units=[SHORT])
        assert natural.shape == (1, 20, 16, 999)
        for s in range(20):
            expected = seed_response(short_times[s])
            np.testing.assert_array_equal(natural[0, s, :len(expected)], expected)
        assert np.isnan(natural[0, 5, 10:]).all() and not np.isnan(natural[0, 5, :10]).any()
        assert not np.isnan(natural[0, [s for s in range(20) if s != 5]]).any()

        drc = rec.response_grid(units=[SHORT], stimuli=[25], smooth=False)
        assert drc.shape == (1, 1, 3, 999)
        np.testing.assert_array_equal(drc[0, 0], seed_response(short_times[25], smooth=False))
        # drc12 (31) was never presented to this block: no repeats at all, or NaN beside another stimulus.
        assert rec.response_grid(units=[SHORT], stimuli=[31]).shape == (1, 1, 0, 999)
        both = rec.response_grid(units=[SHORT], stimuli=[25, 31])
        assert both.shape == (1, 2, 3, 999) and np.isnan(both[0, 1]).all()
        np.testing.assert_array_equal(both[0, 0], seed_response(short_times[25]))


def test_natural_and_drc_together(short_tree, short_times, sample_raw):
    """No longer an error: R = 16 (this unit) or 20 (a full unit), the DRC's missing repeats are NaN."""
    with ns1nwb.open(short_tree[1]) as rec:
        mixed = rec.response_grid(units=[SHORT], stimuli=[0, 25])
        assert mixed.shape == (1, 2, 16, 999)
        np.testing.assert_array_equal(mixed[0, 0], seed_response(short_times[0]))
        np.testing.assert_array_equal(mixed[0, 1, :3], seed_response(short_times[25]))
        assert np.isnan(mixed[0, 1, 3:]).all()
        full = rec.response_grid(units=[0], stimuli=[25, 0])
    assert full.shape == (1, 2, 20, 999)
    np.testing.assert_array_equal(full[0, 0, :5], seed_grid(sample_raw, stimuli=[25])[0, 0])
    assert np.isnan(full[0, 0, 5:]).all()
    np.testing.assert_array_equal(full[0, 1], seed_grid(sample_raw, stimuli=[0])[0, 0])


def test_units_with_every_repeat_are_unchanged_by_a_short_unit(short_tree, short_times, sample_raw, sample_nwb):
    """The analogue of ``response_grid(units=rec.units.in_metadata)`` on an all-clusters file."""
    others = [u for u in range(8) if u != SHORT]
    expected = seed_grid(sample_raw)
    with ns1nwb.open(short_tree[1]) as rec, ns1nwb.open(sample_nwb) as default:
        mask = np.ones(8, dtype=bool)
        mask[SHORT] = False
        grid = rec.response_grid(units=mask)
        np.testing.assert_array_equal(grid, expected[others])
        np.testing.assert_array_equal(grid, default.response_grid(units=others))
        everyone = rec.response_grid()
    assert everyone.shape == (8, 20, 20, 999)
    np.testing.assert_array_equal(everyone[others], expected[others])
    short = everyone[SHORT]
    assert np.isnan(short[:, 16:]).all() and np.isnan(short[5, 10:]).all()
    for s in range(20):
        np.testing.assert_array_equal(short[s, :len(short_times[s])], seed_response(short_times[s]))


@pytest.fixture(scope="session")
def shared_tree(sample_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Unit 0 cut to 16 repeats of every natural sound and 3 of drc06, in a block whose other units
    (1, 2, 4, 5, 7) keep all 20: its block has 20 repeats, unit 0 was recorded in 16 of them."""
    def make(base: Path) -> tuple[Path, Path]:
        raw = _without_wavs(sample_raw, base / "raw")
        _cut_repeats(unit_spike_file(raw, 0), {**{s: 16 for s in range(20)}, 25: 3})
        return raw, _convert(raw, base / "shared.nwb", audio_rate_hz=None)

    return made_once(tmp_path_factory, "shared_tree", make)


def test_a_unit_recorded_in_part_of_its_block(shared_tree, sample_raw):
    """Its missing repeats are NaN (not zeros: the unit was not recorded then), the block's others whole."""
    raw, path = shared_tree
    times = raw_repeat_times(raw)[unit_paths(raw)[0]]
    expected = seed_grid(sample_raw)
    with ns1nwb.open(path) as rec:
        alone = rec.response_grid(units=[0])
        assert alone.shape == (1, 20, 16, 999) and not np.isnan(alone).any()
        for s in (0, 9, 19):
            np.testing.assert_array_equal(alone[0, s], seed_response(times[s]))
        drc = rec.response_grid(units=[0], stimuli=[25, 26])
        assert drc.shape == (1, 2, 5, 999) and np.isnan(drc[0, 0, 3:]).all() and not np.isnan(drc[0, 1]).any()
        block = rec.response_grid(units=[0, 1, 2])
        assert block.shape == (3, 20, 20, 999)
        assert np.isnan(block[0, :, 16:]).all() and not np.isnan(block[0, :, :16]).any()
        np.testing.assert_array_equal(block[1:], expected[[1, 2]])
        with pytest.raises(KeyError, match="no presentation of stimulus 3 repeat 17"):
            rec.trial_spike_times_ms(0, 3, 17)
        assert rec.trial_spike_times_ms(1, 3, 17).size == expected_spikes(sample_raw, 1, 3, 17)
        assert len(rec.to_neo(unit=0).segments) == 20 * 16 + 11 * 5 + 3


def expected_spikes(raw: Path, unit: int, stimulus: int, repeat: int) -> int:
    return raw_repeat_times(raw)[unit_paths(raw)[unit]][stimulus][repeat].size


def test_plot_draws_the_units_own_repeats(short_tree, short_times, tmp_path):
    pytest.importorskip("matplotlib")
    from ns1nwb.plot import psth, response_figure

    with ns1nwb.open(short_tree[1]) as rec:
        for stimulus, n_drawn in [(0, 16), (5, 10)]:
            fig = response_figure(rec, SHORT, stimulus)
            raster = fig.axes[1]
            assert len(raster.collections) == n_drawn
            assert sorted(raster.get_ylim()) == [-0.5, n_drawn - 0.5]  # R of this stimulus alone
            assert f"{n_drawn} repeats" in raster.get_title(loc="right")
        _, rate = psth(rec, SHORT, 5)
        expected = seed_response(short_times[5]).astype(np.float64).mean(axis=0) / 0.005 / 2.0
        np.testing.assert_allclose(rate, expected, rtol=1e-6)
    out = tmp_path / "short.png"
    result = CliRunner().invoke(cli, ["plot", str(short_tree[1]), "-u", str(SHORT), "-s", "nat01", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000


def test_info_counts_metadata_units_and_quality_codes(short_tree, tmp_path):
    from ns1nwb.info import summarize

    path = copy(short_tree[1], tmp_path / "clusters.nwb")
    in_metadata = np.array([1, 1, 1, 1, 0, 1, 0, 1], dtype=bool)
    add_unit_column(path, "in_metadata", in_metadata)
    add_unit_column(path, "cluster_quality", np.array([1, 2, 3, 1, -1, 3, 1, -1], dtype=np.int8))
    info = summarize(path, inspect=False)
    assert info.n_metadata_units == 6 and info.quality_counts == {-1: 2, 1: 3, 2: 1, 3: 2}
    line = next(line for line in info.report().splitlines() if line.strip().startswith("clusters"))
    assert re.search(r"6 in the metadata, 2 other clusters; cluster_quality 1: 3, 2: 1, 3: 2, none: 2$", line)
    with ns1nwb.open(path) as rec:
        assert rec.units.in_metadata.dtype == bool and list(rec.units.cluster_quality) == [1, 2, 3, 1, -1, 3, 1, -1]
        np.testing.assert_array_equal(rec.response_grid(units=rec.units.in_metadata, stimuli=[4]),
                                      rec.response_grid(units=np.flatnonzero(in_metadata), stimuli=[4]))
    # A missing value (NaN in a float column) is unknown, not "no clusterquality.mat" (-1, what ns1nwb writes).
    add_unit_column(path, "cluster_quality", np.array([1, np.nan, 3, 1, 1, 3, 1, np.nan]))
    info = summarize(path, inspect=False)
    assert info.quality_counts == {1: 4, 3: 2} and info.n_quality_unknown == 2


def test_info_has_no_cluster_line_without_the_columns(sample_nwb, tmp_path):
    from ns1nwb.info import summarize

    path = remove_unit_columns(copy(sample_nwb, tmp_path / "plain.nwb"), "in_metadata", "cluster_quality")
    info = summarize(path, inspect=False)
    assert info.n_metadata_units is None and info.quality_counts is None
    assert not any(line.strip().startswith("clusters") for line in info.report().splitlines())


# --------------------------------------------------------------------------- files of the --all-clusters writer


def test_all_clusters_file_reads_like_the_default_for_metadata_units(sample_raw, sample_nwb, tmp_path):
    """A cluster the metadata does not name, recorded later with 16 repeats: its own block, R = 16."""
    raw = _without_wavs(sample_raw, tmp_path / "raw")
    source = unit_spike_file(raw, SHORT)
    extra = source.with_name("cluster.20.data.mat")
    extra.write_bytes(source.read_bytes())
    _cut_repeats(extra, {s: 16 for s in range(20)}, shift=timedelta(hours=2))
    out = _convert(raw, tmp_path / "all.nwb", all_clusters=True, audio_rate_hz=None)
    extra_times = raw_repeat_times_of(extra)
    with ns1nwb.open(out) as rec, ns1nwb.open(sample_nwb) as default:
        units = rec.units
        assert int(units.in_metadata.sum()) == 8 and len(units) == 9
        np.testing.assert_array_equal(rec.response_grid(units=units.in_metadata), default.response_grid())
        other = rec.response_grid(units=~units.in_metadata)
        assert other.shape == (1, 20, 16, 999)
        for s in (0, 7, 19):
            np.testing.assert_array_equal(other[0, s], seed_response(extra_times[s]))
    from ns1nwb.info import summarize

    info = summarize(out, inspect=False)
    assert info.n_metadata_units == 8 and info.n_units == 9


def raw_repeat_times_of(spike_file: Path) -> list[list[np.ndarray]]:
    """[set][repeat] spike times of one spike file, as loadmat gives them."""
    _, sets = load_spikes(spike_file)
    return [[np.asarray(sets[0, s]["repeats"][0, r]["t"], dtype=float).ravel()
             for r in range(sets[0, s]["repeats"].shape[1])] for s in range(sets.shape[1])]


@pytest.mark.realdata
def test_real_all_clusters_file(real_all_nwb, tmp_path):
    out = real_all_nwb
    with ns1nwb.open(out) as rec:
        units = rec.units
        assert int(units.in_metadata.sum()) == 119  # (their grid is the default file's: test_all_clusters.py)
        # Clusters sorted over part of their block: one recorded presentation per obs interval, the
        # others NaN.
        sweeps = np.diff(np.concatenate([[0], rec.files[0].h5["units/obs_intervals_index"][:]]))
        short = [int(u) for u in np.flatnonzero(sweeps < sweeps.max())]
        assert short and not units.in_metadata[short].any()
        for unit in short:
            natural, drc = rec.response_grid(units=[unit]), rec.response_grid(units=[unit], stimuli=range(20, 32))
            recorded = sum(int((~np.isnan(g).all(axis=-1)).sum()) for g in (natural, drc))
            assert recorded == sweeps[unit], unit
        pytest.importorskip("matplotlib")
        from ns1nwb.plot import plot_response

        plot_response(out, short[0], 0, tmp_path / "short.png")
