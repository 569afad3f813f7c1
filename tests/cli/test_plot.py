"""``ns1nwb plot``: spectrogram, raster and PSTH of one unit and one sound, written as a PNG."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner

import ns1nwb
from ns1nwb.cli import cli
from ns1nwb.exceptions import Ns1Error

pytest.importorskip("matplotlib", reason="ns1nwb plot needs matplotlib (pip install '.[plot]')")


def _read_png(path):
    from matplotlib.image import imread

    return imread(path)


def _assert_real_figure(path, width=900, height=750):
    image = _read_png(path)
    assert image.shape[:2] == (height, width)
    rgb = image[..., :3]
    assert rgb.std() > 0.05  # not blank
    # Ink in each third (spectrogram, raster, PSTH): none of them is empty.
    for band in np.array_split(rgb, 3, axis=0):
        assert (band.mean(axis=2) < 0.5).mean() > 0.005


def test_plot_response_writes_a_png(sample_nwb, tmp_path):
    from ns1nwb.plot import plot_response

    out = plot_response(sample_nwb, 0, 3, tmp_path / "fig.png")
    assert out == tmp_path / "fig.png"
    _assert_real_figure(out)


def test_figure_content_names_unit_and_sound(sample_nwb):
    from ns1nwb.plot import response_figure

    with ns1nwb.open(sample_nwb) as rec:
        name = rec.units.unit_name[2]
        fig = response_figure(rec, name, "nat04")
        title = fig._suptitle.get_text()
        assert name in title and "nat04" in title and "ferret_vocalization" in title
        spec, raster, psth_ax = fig.axes[:3]
        assert spec.get_yscale() == "log" and spec.get_ylabel() == "frequency (Hz)"
        assert psth_ax.get_xlabel() == "time after sound onset (ms)" and "spikes/s" in psth_ax.get_ylabel()
        lo, hi = spec.get_ylim()
        assert lo == pytest.approx(500 * 2 ** (-1 / 12)) and hi == pytest.approx(500 * 2 ** (33.5 / 6))
        # One raster row per repeat, holding exactly that repeat's spikes in the window.
        rows = raster.collections
        assert len(rows) == 20
        for repeat in (0, 7):
            times = rec.trial_spike_times_ms(name, 3, repeat)
            drawn = np.asarray(rows[repeat].get_positions())
            np.testing.assert_allclose(drawn, times[(times >= 0) & (times < 4995)])


def test_psth_is_in_spikes_per_second(sample_nwb):
    from ns1nwb.plot import psth

    with ns1nwb.open(sample_nwb) as rec:
        t_ms, raw = psth(rec, 1, 5, smooth=False)
        assert t_ms.shape == (999,) and t_ms[0] == 2.5
        # Unsmoothed: mean rate x window = mean number of distinct rounded ms with a spike per repeat.
        per_repeat = []
        for repeat in range(20):
            ms = np.rint(rec.trial_spike_times_ms(1, 5, repeat))
            per_repeat.append(np.unique(ms[(ms >= 0) & (ms < 4995)]).size)
        assert raw.sum() * 0.005 == pytest.approx(np.mean(per_repeat))
        # Smoothing spreads spikes but keeps the rate (the seed's kernel sums to 2; psth divides it out).
        _, smoothed = psth(rec, 1, 5)
        assert smoothed.mean() == pytest.approx(raw.mean(), rel=0.01)
        grid = rec.response_grid(units=[1], stimuli=[5])
        np.testing.assert_allclose(smoothed, grid[0, 0].mean(axis=0) / 0.005 / 2.0, rtol=1e-6)


def test_a_drc_has_no_spectrogram_but_still_plots(sample_nwb, tmp_path):
    from ns1nwb.plot import plot_response

    out = plot_response(sample_nwb, "1", "drc02", tmp_path / "drc.png", dpi=50)
    image = _read_png(out)
    assert image.shape[:2] == (375, 450) and image[..., :3].std() > 0.05


@pytest.mark.parametrize("unit, stimulus, message", [
    ("no/such/unit", 3, "no unit named 'no/such/unit'"),
    (99, 3, "unit index 99 out of range"),
    ("-9", 3, "unit index -9 out of range"),
    (0.0, 3, "unit index must be an integer"),
    (0, 40, "stimulus 40 out of range"),
    (0, "nat99", "no stimulus named 'nat99'"),
])
def test_bad_unit_or_stimulus_is_a_clear_error(sample_nwb, tmp_path, unit, stimulus, message):
    from ns1nwb.plot import plot_response

    with pytest.raises(Ns1Error, match=message):
        plot_response(sample_nwb, unit, stimulus, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_missing_matplotlib_is_a_clear_error(sample_nwb, tmp_path, monkeypatch):
    from ns1nwb import MissingDependencyError
    from ns1nwb.plot import plot_response

    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match=r"pip install matplotlib"):
        plot_response(sample_nwb, 0, 3, tmp_path / "x.png")
    result = CliRunner().invoke(cli, ["plot", str(sample_nwb), "-u", "0", "-s", "3", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "pip install '.[plot]'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_cli_plot(sample_nwb, tmp_path):
    out = tmp_path / "fig.png"
    result = CliRunner().invoke(cli, ["plot", str(sample_nwb), "--unit", "2", "--stimulus", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    _assert_real_figure(out)
    bad = CliRunner().invoke(cli, ["plot", str(sample_nwb), "--unit", "nope", "--stimulus", "3", "-o", str(out)])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: no unit named 'nope'")
    missing_dir = CliRunner().invoke(cli, ["plot", str(sample_nwb), "-u", "0", "-s", "3",
                                           "-o", str(tmp_path / "no" / "fig.png")])
    assert missing_dir.exit_code == 2 and "does not exist" in missing_dir.stderr


def test_the_tour_and_its_figure_are_in_docs():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    png, tour = docs / "tour.png", docs / "tour.md"
    assert png.is_file() and tour.is_file(), "run: python scripts/make_tour.py"
    assert png.stat().st_size < 300_000
    _assert_real_figure(png)
    text = tour.read_text()
    assert "](tour.png)" in text
    for command in ("ns1nwb download", "ns1nwb convert", "ns1nwb info", "ns1nwb plot", "ns1nwb.open",
                    "response_grid"):
        assert command in text, command
