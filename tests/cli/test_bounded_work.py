"""Issue 16, bounded work: every option that sets how much work or memory a command takes is checked before the
work (audio rate, seed, dpi), and ``plot`` saves its image safely (a temporary name, then a rename)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from ns1nwb.conversion import AUDIO_RATE_RANGE_HZ, parse_audio_rate
from cliharness import ENOSPC, assert_error, leftovers, run


@pytest.mark.parametrize("rate", ["1e9", "1e-3", "1", "999.9", "192001", "inf", "nan", "-48000"])
def test_audio_rate_out_of_range_is_a_usage_error(tmp_path, rate):
    out = tmp_path / "out.nwb"
    result = run("convert", tmp_path / "no-such-release", out, "--audio-rate", rate)
    assert result.exit_code == 2, result.stderr
    assert "Invalid value for '--audio-rate'" in result.stderr and "1000-192000 Hz" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_audio_rate_range_edges():
    assert AUDIO_RATE_RANGE_HZ == (1_000.0, 192_000.0)
    assert parse_audio_rate("1000") == 1000.0 and parse_audio_rate(192000) == 192000.0
    assert parse_audio_rate("native") is None
    with pytest.raises(ValueError, match="outside"):
        parse_audio_rate(192000.5)


def test_convert_api_checks_the_rate_before_any_work(tmp_path):
    import ns1nwb

    with pytest.raises(ValueError, match="outside 1000-192000 Hz"):
        ns1nwb.convert(tmp_path / "no-such-release", tmp_path / "out.nwb", audio_rate_hz=1e9)


def test_negative_seed_is_a_usage_error(tmp_path):
    result = run("sample-data", tmp_path / "raw", "--seed", "-5")
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.stderr, result.stderr
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize("args, needle", [
    pytest.param(["--dpi", "100000"], "Invalid value for '--dpi'", id="dpi"),
    pytest.param(["--dpi", "2001"], "Invalid value for '--dpi'", id="dpi-just-above"),
    pytest.param(["-o", "{dir}/noext"], ".png, .pdf, .svg", id="no-suffix"),
    pytest.param(["-o", "{dir}/figure.jpg"], ".png, .pdf, .svg", id="other-suffix"),
])
def test_plot_usage_errors(tmp_path, args, needle):
    """Refused before the file is even opened (it does not exist here)."""
    args = [a.format(dir=tmp_path) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "figure.png")]
    result = run("plot", tmp_path / "missing.nwb", "--unit", 0, "--stimulus", 0, *args)
    assert result.exit_code == 2 and needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


def test_plot_dpi_at_the_limit_is_accepted(sample_nwb, tmp_path):
    pytest.importorskip("matplotlib")
    # A vector format, and a DRC (no spectrogram, whose mesh is drawn as an image): the dpi costs nothing here.
    image = tmp_path / "figure.pdf"
    result = run("plot", sample_nwb, "--unit", 0, "--stimulus", "drc01", "--dpi", 2000, "-o", image)
    assert result.exit_code == 0 and image.stat().st_size > 0, result.stderr


def test_plot_on_a_full_disk_leaves_no_truncated_image(sample_nwb, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    def savefig(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, ENOSPC)

    monkeypatch.setattr(Figure, "savefig", savefig)
    image = tmp_path / "figure.png"
    assert_error(run("plot", sample_nwb, "--unit", 0, "--stimulus", 0, "-o", image), 2, str(image), ENOSPC,
                 output=image)
    assert leftovers(tmp_path) == []


def test_plot_replaces_an_image_but_not_a_link(sample_nwb, tmp_path):
    pytest.importorskip("matplotlib")
    image = tmp_path / "figure.png"
    image.write_bytes(b"old")
    result = run("plot", sample_nwb, "--unit", 0, "--stimulus", 0, "-o", image)
    assert result.exit_code == 0 and result.stdout == f"wrote {image}\n", result.stderr
    assert image.read_bytes()[:4] == b"\x89PNG" and leftovers(tmp_path) == []
    link = tmp_path / "link.png"
    link.symlink_to(image)
    assert_error(run("plot", sample_nwb, "--unit", 0, "--stimulus", 0, "-o", link), 2, str(link), "symbolic link")
    assert link.is_symlink()
