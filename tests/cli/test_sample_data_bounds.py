"""ns1nwb sample-data: bounded in size, and a stopped or failed run leaves no partial tree."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ns1nwb.cli import cli
from ns1nwb.sample_data import MAX_SAMPLE_UNITS, write_sample_tree


@pytest.mark.parametrize("n_units", [0, -1, MAX_SAMPLE_UNITS + 1, 10**12, 2.0, True, "3"])
def test_unit_counts_outside_the_bounds_are_refused(tmp_path, n_units):
    with pytest.raises(ValueError, match=f"from 1 to {MAX_SAMPLE_UNITS}"):
        write_sample_tree(tmp_path / "raw", n_units=n_units)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("units", ["601", "1000000000000", "0"])
def test_the_command_refuses_them_in_one_usage_line(tmp_path, units):
    result = CliRunner().invoke(cli, ["sample-data", str(tmp_path / "raw"), "--units", units])
    assert result.exit_code == 2 and "Invalid value for '--units'" in result.stderr
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError])
def test_a_stop_midway_leaves_nothing(tmp_path, monkeypatch, stop):
    """Stopped while writing the wavs (after every spike file): no tree, no temporary, the message true."""
    from ns1nwb import sample_data

    def failing_wavs(*args, **kwargs):
        raise stop()

    monkeypatch.setattr(sample_data, "write_wavs", failing_wavs)
    result = CliRunner().invoke(cli, ["sample-data", str(tmp_path / "raw"), "--units", "2"])
    assert result.exit_code in (1, 2) and list(tmp_path.iterdir()) == [], result.output
    if stop is KeyboardInterrupt:
        assert result.stderr.strip() == "error: interrupted; nothing was written"


def test_an_empty_folder_is_filled(tmp_path):
    (tmp_path / "raw").mkdir()
    write_sample_tree(tmp_path / "raw", n_units=1, with_spectrogram=False)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["MetadataSHEnCneurons.mat", "spikesandwav"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]
