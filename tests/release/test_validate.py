"""Every raw value checked before any work (``ns1nwb/release/validate.py``), one row per value.

Each row changes one value of a private copy of a small generated tree (``base_raw``: 2 units, 2 ferrets, 2
recording blocks) with loadmat/savemat or soundfile and reads it as ``ns1nwb convert`` does before writing
anything (``rawedit.assert_refused``: the tree, its recording blocks, the NWB names): one RawFormatError, one
line naming the file, the field and the value. The command line prints that line as ``error: ...`` with exit
code 2 and writes nothing (checked end to end in tests/cli/test_faults.py).

Issue 16 ("Silent corruption" 1, 6, 9 and "Internal errors" 10, 11): before these checks each row converted
with exit 0 into a corrupt file (NaN trial times, a NaN spectrogram, spikes at 1e300 ms...) or stopped with an
internal error (exit 1, "report it"). These rows were ``ns1nwb convert`` runs (tests/test_validation.py and
tests/test_faults.py); each fails, as the run did, without its check.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import scipy.io as sio
import soundfile as sf

from ns1nwb.constants import (METADATA_FILE, N_BANDS, N_NATURAL, SPECTROGRAM_FILE, SPIKES_DIR, STIMULI, WAV_DIR,
                              WAV_HEADER_RATE_HZ)
from ns1nwb.exceptions import RawFormatError
from ns1nwb.release.validate import check_wav
from clusters import write_quality
from rawedit import (assert_refused, load_spikes, save, set_first_spike, set_metadata, set_stim_param, set_sweep,
                     set_timestamps, timestamps_of, truncate, unit_spike_file)

NAN, INF = float("nan"), float("inf")
#: Unit 0 (exp45, Dec 2012) is the earliest recording block, unit 1 (exp57) the last.
EARLIEST, LAST = 0, 1


# --------------------------------------------------------------------------- metadata rows (check_metadata_row)


@pytest.mark.parametrize("unit, field, value, shown", [
    pytest.param(0, "ElectrodeNumber", NAN, "nan", id="ElectrodeNumber-nan"),
    pytest.param(0, "ElectrodeNumber", "seven", "'seven'", id="ElectrodeNumber-seven"),
    pytest.param(0, "ElectrodeNumber", -1, "-1", id="ElectrodeNumber--1"),
    pytest.param(0, "ElectrodeNumber", 7.5, "7.5", id="ElectrodeNumber-7.5"),
    pytest.param(0, "ElectrodeNumber", [], "None", id="ElectrodeNumber-empty"),
    pytest.param(1, "ElectrodeNumber", 20, "20", id="ElectrodeNumber-above-NrOfElectrodes"),
    pytest.param(0, "depth", 40000, "40000", id="depth-40000"),
    pytest.param(1, "depth", NAN, "nan", id="depth-nan"),
    pytest.param(0, "NrOfElectrodes", 300, "300", id="NrOfElectrodes-300"),
    pytest.param(0, "NrOfElectrodes", [32.0, 32.0], "[32.0, 32.0]", id="NrOfElectrodes-two-values"),
    pytest.param(1, "singleN", 999, "999", id="singleN-999"),
    pytest.param(1, "NoiseRatio", -INF, "-inf", id="NoiseRatio--inf"),
    pytest.param(0, "singleT", "Perhaps", "'Perhaps'", id="singleT-Perhaps"),
])
def test_bad_metadata_value(tree: Path, unit: int, field: str, value: Any, shown: str) -> None:
    """Issue 16 item 10: these metadata values were internal errors (exit 1) or stored as nonsense."""
    set_metadata(tree, unit, field, value)
    assert_refused(tree, str(tree / METADATA_FILE), f"unit {unit}", field, shown)


# --------------------------------------------------------------------------- unit paths (check_unit_path)


@pytest.mark.parametrize("rel_path, problem", [
    pytest.param("exp45_1x32\\P04-SH.En.C.U\\cluster.07.data.mat", "separators", id="backslashes"),
    # A path without <experiment>/<penetration>/ folders is read (ferret and probe 'unknown'), as the seed
    # reads it: tests/release/test_folderless_paths.py.
])
def test_unit_path_shape(tree: Path, rel_path: str, problem: str) -> None:
    """Issue 16 item 10: a unit path with ``\\`` separators was an internal error. The file is there, so only
    the path's shape is wrong."""
    target = tree / SPIKES_DIR / rel_path.replace("\\", "/")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(unit_spike_file(tree, 0), target)
    set_metadata(tree, 0, "path", rel_path)
    assert_refused(tree, str(tree / METADATA_FILE), "unit 0 path", repr(rel_path), problem)


# --------------------------------------------------------------------------- stim_params (check_stim_params)


@pytest.mark.parametrize("unit, name, value, shown", [
    pytest.param(0, "NominalLevel", "loud", "'loud'", id="NominalLevel-loud"),
    pytest.param(0, "NominalLevel", [80.0, 81.0], "[80.0, 81.0]", id="NominalLevel-80-81"),
    pytest.param(1, "Level", NAN, "nan", id="Level-nan"),
    pytest.param(1, "Source", NAN, "nan", id="Source-nan"),
    pytest.param(0, "BF", 1e12, "1000000000000", id="BF-1e12"),
    pytest.param(0, "Set", 2.5, "2.5", id="Set-2.5"),
    pytest.param(1, "Token", -1, "-1", id="Token--1"),
    pytest.param(1, "StimID", INF, "inf", id="StimID-inf"),
    pytest.param(0, "Mode", [], "None", id="Mode-empty"),
])
def test_bad_stim_params(tree: Path, unit: int, name: str, value: Any, shown: str) -> None:
    """Issue 16 item 11: these ``stim_params`` values were internal errors (int(NaN), a list where a number
    goes) or stored as nonsense."""
    spike_file = unit_spike_file(tree, unit)
    set_stim_param(spike_file, 6, name, value)
    assert_refused(tree, str(spike_file), "set 7", f"stim_params {name}", shown)


# --------------------------------------------------------------------------- sweeps (check_sweep_ms)


@pytest.mark.parametrize("value, unit, shown", [
    pytest.param(NAN, EARLIEST, "nan", id="nan-earliest-block"),
    pytest.param(INF, LAST, "inf", id="inf-last-block"),
    pytest.param(-INF, EARLIEST, "-inf", id="-inf"),
    pytest.param(-5000.0, LAST, "-5000", id="-5000"),
    pytest.param(0.0, LAST, "0.0", id="zero"),
    pytest.param(1e300, LAST, "1e+300", id="1e300"),
    pytest.param(60_001.0, EARLIEST, "60001", id="a-minute"),
    pytest.param("5200", EARLIEST, "'5200'", id="text"),
    pytest.param([5200.0, 5200.0], EARLIEST, "[5200.0, 5200.0]", id="two-values"),
])
def test_bad_sweep_length(tree: Path, value: Any, unit: int, shown: str) -> None:
    """Issue 16 item 1: a NaN ``length_signal_ms`` made 460 trials start at NaN and every spike of another unit
    NaN; inf/1e300 gave obs_intervals ending at inf, -5000 trials with stop < start. Now refused."""
    spike_file = unit_spike_file(tree, unit)
    set_sweep(spike_file, 3, value)
    assert_refused(tree, str(spike_file), "set 4 length_signal_ms", shown)


# --------------------------------------------------------------------------- spike times (check_set_spikes)


def _middle_spike(value: float) -> Callable[[Path], None]:
    """The middle spike of the first non-empty repeat of set 10 becomes ``value``."""
    def edit(spike_file: Path) -> None:
        mat, sets = load_spikes(spike_file)
        repeats = sets[0, 9]["repeats"]
        r = next(i for i in range(repeats.shape[1]) if repeats[0, i]["t"].size)
        times = repeats[0, r]["t"].copy()
        times[0, times.shape[1] // 2] = value
        repeats["t"][0, r] = times
        save(spike_file, mat)
    return edit


def _two_negative_spikes(spike_file: Path) -> None:
    mat, sets = load_spikes(spike_file)
    times = sets[0, 9]["repeats"]["t"]
    times[0, 0] = np.concatenate([times[0, 0], [[-0.5, -3.25]]], axis=1)
    save(spike_file, mat)


@pytest.mark.parametrize("edit, needles", [
    pytest.param(lambda f: set_first_spike(f, 9, NAN), ["set 10", "NaN or infinite"], id="first-nan"),
    pytest.param(lambda f: set_first_spike(f, 9, INF), ["set 10", "NaN or infinite"], id="first-inf"),
    pytest.param(lambda f: set_first_spike(f, 9, -INF), ["set 10", "NaN or infinite"], id="first--inf"),
    pytest.param(_middle_spike(NAN), ["set 10", "NaN or infinite"], id="middle-nan"),
    pytest.param(_middle_spike(INF), ["set 10", "NaN or infinite"], id="middle-inf"),
    pytest.param(_middle_spike(-0.5), ["set 10", "1 negative spike times"], id="middle-negative"),
    pytest.param(_two_negative_spikes, ["set 10", "2 negative spike times"], id="two-negative"),
    # Issue 16 item 9: a spike at 1e300 ms was accepted (float64 times broken); a spike long after the
    # recorded sweep lies in the next trial. Spikes stay within SPIKE_AFTER_SWEEP_MS (1 s) of their sweep.
    pytest.param(lambda f: set_first_spike(f, 9, 1e300), ["set 10", "spike at 1e+300 ms"], id="1e300"),
    pytest.param(lambda f: set_first_spike(f, 9, 6300.0), ["set 10", "spike at 6300 ms"], id="after-sweep"),
])
def test_bad_spike_times(tree: Path, edit: Callable[[Path], None], needles: list[str]) -> None:
    spike_file = unit_spike_file(tree, 1)
    edit(spike_file)
    assert_refused(tree, str(spike_file), *needles)


# --------------------------------------------------------------------------- timestamps (check_timestamps)


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
@pytest.mark.parametrize("blank", [pytest.param("", id="empty"), pytest.param("   ", id="spaces"),
                                   pytest.param([], id="0x0")])
def test_one_blank_timestamp_among_460(tree: Path, blank: Any, strict: bool) -> None:
    """Issue 16 item 5: one blank timestamp among 460 sent the whole file to the synthetic clock (start
    2000-01-01), even with --strict. Now refused, --strict or not."""
    spike_file = unit_spike_file(tree, 0)
    assert sum(map(len, timestamps_of(spike_file))) == 460
    set_timestamps(spike_file, {(7, 3): blank})
    assert_refused(tree, str(spike_file), "1 of 460 presentations have no timestamp", strict=strict)


@pytest.mark.parametrize("stamp, problem", [
    pytest.param("20121322-110702340", "not a valid date", id="month-13"),
    pytest.param("20130229-110702340", "not a valid date", id="feb-29-2013"),
    pytest.param("20121222-250702340", "not a valid date", id="hour-25"),
    pytest.param("yesterday", "YYYYMMDD-HHMMSSmmm", id="text"),
    pytest.param("2012-12-22 11:07:02", "YYYYMMDD-HHMMSSmmm", id="iso"),
    pytest.param(20121222.11, "expected text", id="number"),
    pytest.param("\uff12\uff10\uff11\uff12\uff11\uff12\uff12\uff12-\uff11\uff11\uff10\uff17\uff10\uff12\uff13\uff14\uff10",
                 "YYYYMMDD-HHMMSSmmm", id="fullwidth-digits"),
])
def test_unparseable_timestamp(tree: Path, stamp: Any, problem: str) -> None:
    """A timestamp that is not a time was an internal error when the clock was built."""
    spike_file = unit_spike_file(tree, 1)
    set_timestamps(spike_file, {(4, 1): stamp})
    assert_refused(tree, str(spike_file), "timestamp", str(stamp), problem)


# --------------------------------------------------------------------------- wavs (check_wav)


def _wav(root: Path, index: int) -> Path:
    return root / SPIKES_DIR / WAV_DIR / STIMULI[index].wav_name


def _sample_1000(value: float) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        samples, rate = sf.read(path, dtype="float32")
        samples[1000] = value
        sf.write(path, samples, rate, format="WAV", subtype="FLOAT")
    return edit


@pytest.mark.parametrize("damage, problem", [
    pytest.param(lambda p: sf.write(p, sf.read(p, dtype="float32")[0], 44100, format="WAV", subtype="FLOAT"),
                 "sample rate 44100", id="wrong-rate"),
    pytest.param(lambda p: sf.write(p, np.zeros(48828, np.float32), 48828, format="WAV", subtype="FLOAT"),
                 "shorter than the 4995-ms", id="too-short"),
    pytest.param(lambda p: sf.write(p, np.zeros(1000, np.float32), 48828, format="WAV", subtype="FLOAT"),
                 "shorter than the 4995-ms", id="1000-samples"),
    pytest.param(lambda p: sf.write(p, np.zeros(0, np.float32), 48828, format="WAV", subtype="FLOAT"),
                 "0 samples", id="no-frames"),
    pytest.param(lambda p: p.write_bytes(b""), "not a readable wav", id="zero-bytes"),
    pytest.param(lambda p: p.write_text("RIFF? no\n"), "not a readable wav", id="not-a-wav"),
    # Issue 16 item 6: NaN or inf samples in a wav were stored as is (and the spectrogram was NaN).
    pytest.param(_sample_1000(NAN), "sample 1000 is nan; 1 NaN", id="nan-sample"),
    pytest.param(_sample_1000(INF), "sample 1000 is inf; 1 NaN", id="inf-sample"),
    pytest.param(_sample_1000(-INF), "sample 1000 is -inf; 1 NaN", id="-inf-sample"),
])
def test_bad_wav(wav_tree: Path, damage: Callable[[Path], None], problem: str | list[str]) -> None:
    path = _wav(wav_tree, 3)
    damage(path)
    assert_refused(wav_tree, str(path), *([problem] if isinstance(problem, str) else problem))


def _bad_samples(shape: tuple[int, ...], bad: dict[tuple[int, ...], float]) -> np.ndarray:
    samples = np.zeros(shape, np.float32)
    for where, value in bad.items():
        samples[where] = value
    return samples


@pytest.mark.parametrize("samples, message", [
    pytest.param(_bad_samples((250_000, 1), {(1000, 0): -INF}), "sample 1000 is -inf; 1 NaN", id="mono"),
    pytest.param(_bad_samples((250_000, 2), {(2000, 1): NAN}), "sample 2000 (channel 2) is nan; 1 NaN",
                 id="stereo-second-channel"),
    pytest.param(_bad_samples((250_000, 2), {(7, 1): INF, (5, 0): NAN, (9, 0): NAN}),
                 "sample 5 (channel 1) is nan; 3 NaN", id="the-first-of-several"),
])
def test_a_bad_wav_sample_is_named_by_its_index_and_plain_value(samples: np.ndarray, message: str) -> None:
    """Issue 25: the message printed ``array([-inf], dtype=float32)`` (the row of the 2-D samples)."""
    with pytest.raises(RawFormatError) as caught:
        check_wav(Path("x.wav"), samples, WAV_HEADER_RATE_HZ)
    assert str(caught.value).startswith(f"x.wav: {message}") and "array" not in str(caught.value)


# --------------------------------------------------------------------------- test_data_5ms.mat (check_spectrogram)


def _good_spectrogram(path: Path) -> None:
    sio.savemat(path, {"X_nfht": np.zeros((N_NATURAL, N_BANDS, 1, 999)), "y_nt": np.zeros((N_NATURAL, 999))})


@pytest.mark.parametrize("make, problem", [
    pytest.param(lambda p: (_good_spectrogram(p), truncate(p)), "not a readable MAT file", id="truncated"),
    pytest.param(lambda p: p.write_text("not a mat file\n" * 40), "not a readable MAT file", id="text"),
    pytest.param(lambda p: sio.savemat(p, {"X_nfht": np.zeros((N_NATURAL, N_BANDS, 998))}), "shape", id="3d-998"),
    pytest.param(lambda p: sio.savemat(p, {"X_nfht": np.zeros((N_NATURAL, N_BANDS, 999))}), "shape", id="3d-999"),
    pytest.param(lambda p: sio.savemat(p, {"X_nfht": np.zeros((N_NATURAL, N_BANDS, 1, 998))}), "shape",
                 id="998-bins"),
    pytest.param(lambda p: sio.savemat(p, {"X_nfht": np.zeros((N_NATURAL - 1, N_BANDS, 1, 999))}), "shape",
                 id="19-sounds"),
    pytest.param(lambda p: sio.savemat(p, {"y_nt": np.zeros((N_NATURAL, 999))}), "shape None", id="no-X_nfht"),
    pytest.param(lambda p: sio.savemat(p, {"X_nfht": np.full((N_NATURAL, N_BANDS, 1, 999), np.inf)}),
                 "NaN or infinite", id="inf"),
    pytest.param(lambda p: sio.savemat(p, {"X_nfht": np.full((N_NATURAL, N_BANDS, 1, 999), np.nan)}),
                 "NaN or infinite", id="nan"),
])
def test_bad_spectrogram_file(tree: Path, make: Callable[[Path], Any], problem: str) -> None:
    """A test_data_5ms.mat without a finite (20, 34, 1, 999) X_nfht is refused, naming it."""
    path = tree / SPECTROGRAM_FILE
    path.unlink()  # the copy's own, not a link
    make(path)
    assert_refused(tree, str(path), problem)


# --------------------------------------------------------------------------- clusterquality.mat (check_cluster_quality)


@pytest.mark.parametrize("damage, problem", [
    pytest.param(lambda folder: (folder / "clusterquality.mat").write_text("not a MAT file"),
                 "not a readable MAT file", id="not-a-mat"),
    pytest.param(lambda folder: write_quality(folder, [1, 2, 3]), "3 codes, but the folder holds cluster.09",
                 id="too-few-codes"),
    pytest.param(lambda folder: write_quality(folder, [1, 2, 3, 3, 3, 3, 7, 1, 1]), "clusterquality holds 7",
                 id="code-7"),
])
def test_bad_clusterquality(cluster_raw: Path, tmp_path: Path, damage: Callable[[Path], Any], problem: str) -> None:
    """With --all-clusters (the tree of tests/nwb/test_all_clusters.py): one line naming the file."""
    tree = Path(shutil.copytree(cluster_raw, tmp_path / "raw"))
    folder = tree / SPIKES_DIR / "exp45_1x32" / "P04-SH.En.C.U"
    damage(folder)
    assert_refused(tree, str(folder / "clusterquality.mat"), problem, all_clusters=True)
