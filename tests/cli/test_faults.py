"""Fault matrix of ``ns1nwb convert`` through the command line.

Every row breaks one thing (a raw file, the metadata YAML, the output, the disk, the user's
patience) and checks what the user sees: the exit code (2 bad input / usage, 1 internal or
interrupted, 0 tolerated), exactly one ``error:`` line on stderr (``warning:`` lines aside)
naming the file and the problem, no traceback, and nothing left behind: no file at the output
path, no hidden ``*.partial*`` file or staging folder beside it.

Rows run ``ns1nwb.cli.cli`` in-process with click's ``CliRunner`` on a private copy of a small
generated tree (2 units in 2 recording blocks, no ``test_data_5ms.mat``); rows about the writer
and ``--dandi`` use a copy without wavs (no stimulus templates: 5x faster to write, and they let
the 'wavs missing' warning through). A few run the real console script in a subprocess
(tracebacks, a real SIGINT mid-write, a real full disk on a 256 kB tmpfs when root can mount one).
Known library bugs are ``xfail(strict=True)`` with the bug in the reason.
Conversions use ``--audio-rate native`` unless the row is about the rate: it skips resampling.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io as sio
import soundfile as sf

import ns1nwb
from ns1nwb.constants import METADATA_FILE, N_BANDS, N_NATURAL, SPECTROGRAM_FILE, SPIKES_DIR, STIMULI, WAV_DIR
from cliharness import (ENOSPC, NATIVE, Spy, assert_error, assert_ok, console_script, convert_cli,
                        fault_in_nwb_write, leftovers, let_warnings_through, describe, run,
                        stop_real_conversion_mid_write)
from rawedit import (load_spikes, neurons, save, save_neurons, struct, times_to_seconds,
                     truncate, unit_paths,
                     unit_spike_file)

# --------------------------------------------------------------------------- helpers


# MAT rewriting (the structure loadmat shows on the real files; see tests/release/test_tree.py).


def _stored_counts(path: Path) -> list[list[int]]:
    sets = sio.loadmat(path)["data"][0, 0]["set"]
    return [[t.size for t in sets[0, s]["repeats"]["t"].ravel()] for s in range(sets.shape[1])]


def _wav(root: Path, index: int) -> Path:
    return root / SPIKES_DIR / WAV_DIR / STIMULI[index].wav_name


# --------------------------------------------------------------------------- the raw folder and its metadata


def test_missing_raw_folder(tmp_path, out):
    missing = tmp_path / "no-such-release"
    assert_error(convert_cli(missing, out), 2, str(missing), "raw folder not found", output=out)


def test_missing_metadata_file(tree, out):
    (tree / METADATA_FILE).unlink()
    assert_error(convert_cli(tree, out), 2, METADATA_FILE, "not found", output=out)


@pytest.mark.parametrize("damage", [
    pytest.param(truncate, id="truncated"),
    pytest.param(lambda p: p.write_bytes(b""), id="empty"),
    pytest.param(lambda p: p.write_text("neuron = struct('path', {})\n" * 20), id="text"),
])
def test_unreadable_metadata(tree, out, damage):
    damage(tree / METADATA_FILE)
    assert_error(convert_cli(tree, out), 2, METADATA_FILE, "not a readable MAT file", output=out)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a chmod-000 file anyway")
def test_metadata_without_read_permission(tree, out):
    meta = tree / METADATA_FILE
    meta.chmod(0)
    try:
        assert_error(convert_cli(tree, out), 2, METADATA_FILE, output=out)
    finally:
        meta.chmod(0o644)


def test_metadata_without_neuron(tree, out):
    sio.savemat(tree / METADATA_FILE, {"cells": neurons(tree)})
    assert_error(convert_cli(tree, out), 2, METADATA_FILE, "no variable 'neuron'", output=out)


def test_metadata_neuron_not_a_struct(tree, out):
    sio.savemat(tree / METADATA_FILE, {"neuron": np.arange(3.0)})
    assert_error(convert_cli(tree, out), 2, METADATA_FILE, "not a struct array", output=out)


def test_metadata_without_path_field(tree, out):
    """No ``path`` field and a numeric first field: the fallback finds no usable path."""
    neuron = neurons(tree)
    fields = [n for n in neuron.dtype.names if n != "path"]
    assert fields[0] == "NrOfElectrodes"
    save_neurons(tree, struct(neuron.shape, {n: [rec[n] for rec in neuron.ravel()] for n in fields}))
    assert_error(convert_cli(tree, out), 2, METADATA_FILE, "no spike-file path", "NrOfElectrodes", output=out)


def test_metadata_with_empty_path(tree, out):
    neuron = neurons(tree)
    neuron[0, 1]["path"] = np.array([""])
    save_neurons(tree, neuron)
    assert_error(convert_cli(tree, out), 2, METADATA_FILE, "unit 1 has no spike-file path", output=out)


@pytest.mark.parametrize("bad_path", ["../outside.data.mat", "exp45_1x32/../../outside.data.mat",
                                      "/etc/passwd", "C:\\data\\cluster.01.data.mat"])
def test_unit_path_leaving_spikesandwav(tree, out, bad_path):
    neuron = neurons(tree)
    neuron[0, 1]["path"] = np.array([bad_path])
    save_neurons(tree, neuron)
    assert_error(convert_cli(tree, out), 2, METADATA_FILE, repr(bad_path), "leaves", output=out)


def test_unit_path_symlink_escaping(tree, out, tmp_path):
    """A path inside spikesandwav/ that is a symlink to a file outside it is refused too."""
    outside = tmp_path / "outside.data.mat"
    shutil.copy(unit_spike_file(tree, 1), outside)
    (tree / SPIKES_DIR / "evil.data.mat").symlink_to(outside)
    neuron = neurons(tree)
    neuron[0, 1]["path"] = np.array(["evil.data.mat"])
    save_neurons(tree, neuron)
    assert_error(convert_cli(tree, out), 2, METADATA_FILE, "evil.data.mat", "outside", output=out)


def test_duplicate_unit_paths(tree, out):
    neuron = neurons(tree)
    neuron[0, 1]["path"] = neuron[0, 0]["path"]
    save_neurons(tree, neuron)
    assert_error(convert_cli(tree, out), 2, METADATA_FILE, "same spike file", output=out)


# --------------------------------------------------------------------------- spike files


@pytest.mark.parametrize("damage", [
    pytest.param(truncate, id="truncated"),
    pytest.param(lambda p: p.write_bytes(b""), id="empty"),
    pytest.param(lambda p: p.write_text("spike times: 1.0 2.0 3.0\n" * 20), id="not-a-mat"),
])
def test_unreadable_spike_file(tree, out, damage):
    spike_file = unit_spike_file(tree, 1)
    damage(spike_file)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "not a readable MAT file", output=out)


@pytest.mark.parametrize("variables", [
    pytest.param(lambda mat: {"spikes": np.ones((1, 10))}, id="no-data"),
    pytest.param(lambda mat: {"data": struct((1, 1), {"sets": [np.ones((1, 10))]})}, id="no-set"),
    pytest.param(lambda mat: {"data": np.array([[1.0, 2.0]])}, id="data-not-struct"),
])
def test_spike_file_without_data_set(tree, out, variables):
    spike_file = unit_spike_file(tree, 1)
    sio.savemat(spike_file, variables(sio.loadmat(spike_file)))
    assert_error(convert_cli(tree, out), 2, str(spike_file), "data.set", output=out)


def test_set_with_fewer_repeats_is_tolerated(tree, out):
    """Set 5 of unit 0 keeps 3 of its 20 repeats: exit 0, every stored spike kept, the rest NaN in the grid."""
    spike_file = unit_spike_file(tree, 0)
    mat, sets = load_spikes(spike_file)
    sets[0, 5]["repeats"] = sets[0, 5]["repeats"][:, :3].copy()
    save(spike_file, mat)
    counts = [_stored_counts(unit_spike_file(tree, u)) for u in range(2)]
    assert [len(c) for c in counts[0][5:6]] == [3]
    total = sum(n for unit in counts for s in unit for n in s)

    result = convert_cli(tree, out)
    assert assert_ok(result, out) == []
    # 460 presentations per block, 17 missing from unit 0's block (it is alone in it).
    assert f"2 units, {total:,} spikes, 903 trials" in result.stdout
    with ns1nwb.open(out) as rec:
        assert list(rec.units["n_spikes"]) == [sum(n for s in unit for n in s) for unit in counts]
        expected = sio.loadmat(spike_file)["data"][0, 0]["set"][0, 5]["repeats"]["t"][0, 2].ravel()
        np.testing.assert_allclose(rec.trial_spike_times_ms(0, 5, 2), np.sort(expected), rtol=0, atol=1e-6)
        with pytest.raises(KeyError):
            rec.trial_spike_times_ms(0, 5, 3)
        grid = rec.response_grid(units=[0], smooth=False)
        assert np.isnan(grid[0, 5, 3:]).all() and not np.isnan(grid[0, 5, :3]).any()
        assert not np.isnan(np.delete(grid[0], 5, axis=0)).any()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_spike_times(tree, out, bad):
    spike_file = unit_spike_file(tree, 1)
    mat, sets = load_spikes(spike_file)
    times = sets[0, 9]["repeats"]["t"]
    r = next(i for i in range(times.shape[1]) if times[0, i].size)
    times[0, r] = times[0, r].copy()
    times[0, r][0, 0] = bad
    save(spike_file, mat)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "NaN or infinite", output=out)


def test_negative_spike_times(tree, out):
    spike_file = unit_spike_file(tree, 1)
    mat, sets = load_spikes(spike_file)
    times = sets[0, 9]["repeats"]["t"]
    times[0, 0] = np.concatenate([times[0, 0], [[-0.5, -3.25]]], axis=1)
    save(spike_file, mat)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "2 negative spike times", output=out)


@let_warnings_through
def test_times_in_seconds_warn(tree, out):
    spike_file = unit_spike_file(tree, 1)
    times_to_seconds(spike_file)
    result = convert_cli(tree, out)
    warning_lines = assert_ok(result, out)
    assert len(warning_lines) == 1 and str(spike_file) in warning_lines[0] and "seconds" in warning_lines[0]
    assert "2 units" in result.stdout


def test_times_in_seconds_strict(tree, out):
    spike_file = unit_spike_file(tree, 1)
    times_to_seconds(spike_file)
    assert_error(convert_cli(tree, out, "--strict"), 2, str(spike_file), "seconds", "--strict", output=out)


@let_warnings_through
def test_missing_spike_file_is_skipped(tree, out):
    paths = unit_paths(tree)
    missing = unit_spike_file(tree, 1)
    missing.unlink()
    result = convert_cli(tree, out)
    warning_lines = assert_ok(result, out)
    assert len(warning_lines) == 1 and missing.name in warning_lines[0] and paths[1] in warning_lines[0]
    assert "1 units, " in result.stdout and "1 units skipped (spike file missing)" in result.stdout
    with ns1nwb.open(out) as rec:
        assert list(rec.units["unit_name"]) == [paths[0][: -len(".mat")]]


def test_missing_spike_file_strict(tree, out):
    missing = unit_spike_file(tree, 1)
    missing.unlink()
    assert_error(convert_cli(tree, out, "--strict"), 2, str(missing), "not found", "--strict", output=out)


# --------------------------------------------------------------------------- wavs and the spectrogram


@let_warnings_through
def test_missing_wav_warns(wav_tree, out):
    missing = _wav(wav_tree, 7)
    missing.unlink()
    result = convert_cli(wav_tree, out)
    warning_lines = assert_ok(result, out)
    assert len(warning_lines) == 1 and missing.name in warning_lines[0] and "missing" in warning_lines[0]
    with ns1nwb.open(out) as rec:
        assert not rec.stimuli.loc[7, "has_waveform"] and rec.stimuli["has_waveform"].sum() == N_NATURAL - 1


def test_missing_wav_strict(wav_tree, out):
    missing = _wav(wav_tree, 7)
    missing.unlink()
    assert_error(convert_cli(wav_tree, out, "--strict"), 2, missing.name, "missing", "--strict", output=out)


@pytest.mark.parametrize("damage, problem", [
    pytest.param(lambda p: sf.write(p, sf.read(p, dtype="float32")[0], 44100, format="WAV", subtype="FLOAT"),
                 "sample rate 44100", id="wrong-rate"),
    pytest.param(lambda p: sf.write(p, np.zeros(48828, np.float32), 48828, format="WAV", subtype="FLOAT"),
                 "shorter than the 4995-ms", id="too-short"),
    pytest.param(lambda p: sf.write(p, np.zeros(0, np.float32), 48828, format="WAV", subtype="FLOAT"),
                 "0 samples", id="no-frames"),
    pytest.param(lambda p: p.write_bytes(b""), "not a readable wav", id="zero-bytes"),
    pytest.param(lambda p: p.write_text("RIFF? no\n"), "not a readable wav", id="not-a-wav"),
])
def test_bad_wav(wav_tree, out, damage, problem):
    path = _wav(wav_tree, 3)
    damage(path)
    assert_error(convert_cli(wav_tree, out), 2, str(path), problem, output=out)


def _good_spectrogram(path: Path) -> None:
    sio.savemat(path, {"X_nfht": np.zeros((N_NATURAL, N_BANDS, 1, 999)), "y_nt": np.zeros((N_NATURAL, 999))})


@pytest.mark.parametrize("make, problem", [
    pytest.param(lambda p: (_good_spectrogram(p), truncate(p)), "not a readable MAT file", id="truncated"),
    pytest.param(lambda p: p.write_text("not a mat file\n" * 40), "not a readable MAT file", id="text"),
    pytest.param(lambda p: sio.savemat(p, {"X_nfht": np.zeros((N_NATURAL, N_BANDS, 998))}), "shape", id="3d"),
    pytest.param(lambda p: sio.savemat(p, {"X_nfht": np.zeros((N_NATURAL - 1, N_BANDS, 1, 999))}), "shape",
                 id="19-sounds"),
    pytest.param(lambda p: sio.savemat(p, {"y_nt": np.zeros((N_NATURAL, 999))}), "shape None", id="no-X_nfht"),
    pytest.param(lambda p: sio.savemat(p, {"X_nfht": np.full((N_NATURAL, N_BANDS, 1, 999), np.inf)}),
                 "NaN or infinite", id="inf"),
])
def test_bad_spectrogram_file(tree, out, make, problem):
    path = tree / SPECTROGRAM_FILE
    make(path)
    assert_error(convert_cli(tree, out), 2, str(path), problem, output=out)


# --------------------------------------------------------------------------- the output


def test_output_folder_missing(tree, tmp_path):
    target = tmp_path / "no-such-folder" / "ns1.nwb"
    assert_error(convert_cli(tree, target), 2, str(target), "does not exist", output=target)
    assert not target.parent.exists()


def test_existing_output_is_untouched(tree, out):
    out.write_bytes(b"precious: not an NWB file")
    os.utime(out, (1_000_000_000, 1_000_000_000))
    before = out.stat()
    assert_error(convert_cli(tree, out), 2, str(out), "already exists", "--overwrite")
    assert out.read_bytes() == b"precious: not an NWB file"
    assert out.stat().st_mtime_ns == before.st_mtime_ns and out.stat().st_ino == before.st_ino
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_output_is_a_folder(tree, out_dir):
    target = out_dir / "ns1.nwb"
    target.mkdir()
    assert_error(convert_cli(tree, target, "--overwrite"), 2, str(target), "is a folder")
    assert target.is_dir() and list(target.iterdir()) == []


@let_warnings_through
def test_long_but_legal_output_name(lean_tree, out_dir):
    target = out_dir / ("a" * 240 + ".nwb")
    try:
        target.touch()
        target.unlink()
    except OSError:
        pytest.skip("this file system does not take 244-character names")
    result = convert_cli(lean_tree, target)
    assert "partial" not in result.stderr, describe(result)
    assert_ok(result, target)


@let_warnings_through
def test_disk_full_during_write(lean_tree, out, monkeypatch):
    """``OSError(ENOSPC)`` from the NWB writer after part of the file is on disk: exit 2, temp file gone."""
    spy = Spy(out.parent)
    fault_in_nwb_write(monkeypatch, spy, OSError(errno.ENOSPC, ENOSPC))
    assert_error(convert_cli(lean_tree, out), 2, str(out), ENOSPC, output=out)
    assert len(spy.seen) == 1 and "partial" in spy.seen[0]  # the fault struck with the temp file on disk


@let_warnings_through
def test_ctrl_c_line_names_the_output(lean_tree, out, monkeypatch):
    fault_in_nwb_write(monkeypatch, Spy(out.parent), KeyboardInterrupt())
    assert_error(convert_cli(lean_tree, out), 1, "interrupted", str(out), output=out)


# --------------------------------------------------------------------------- the metadata YAML


@pytest.mark.parametrize("text, field, problem", [
    pytest.param("lab: [1, 2]\n", "lab", "is not of type 'string'", id="wrong-type"),
    pytest.param("experimenter: Doe, Jane\n", "experimenter", "is not of type 'array'", id="wrong-type-list"),
    pytest.param("experimenter: [Jane Doe]\n", "experimenter.0", "does not match", id="bad-name"),
    pytest.param("colour: blue\n", "colour", "unknown key", id="unknown-key"),
    pytest.param("subject:\n  eye_colour: blue\n", "eye_colour", "unknown key", id="unknown-subject-key"),
    pytest.param("subject:\n  age: 6 months\n", "subject.age", "ISO 8601", id="bad-iso-age"),
    pytest.param("subjects:\n  exp45: {age: P6X}\n", "subjects.exp45.age", "ISO 8601", id="bad-iso-age-per-subject"),
    pytest.param("subject:\n  sex: X\n", "subject.sex", "is not one of", id="bad-sex"),
    pytest.param("subjects:\n  exp57: {sex: female}\n", "subjects.exp57.sex", "is not one of", id="bad-sex-per-subject"),
    pytest.param("subject:\n  weight: heavy\n", "subject.weight", "does not match", id="bad-weight"),
    pytest.param("session_start_time: yesterday\n", "session_start_time", "date-time", id="bad-date-time"),
    pytest.param("lab: [unclosed\n", "", "not valid YAML", id="not-yaml"),
    pytest.param("\tlab: tabs\n", "", "not valid YAML", id="tab-indent"),
    pytest.param("- a list\n- not a mapping\n", "", "top level must be a mapping", id="top-level-list"),
])
def test_invalid_metadata_yaml(tree, out, tmp_path, text, field, problem):
    metadata = tmp_path / "meta.yaml"
    metadata.write_text(text)
    assert_error(convert_cli(tree, out, "--metadata", metadata), 2, str(metadata), field, problem, output=out)


def test_metadata_file_missing(tree, out, tmp_path):
    metadata = tmp_path / "no-such-meta.yaml"
    assert_error(convert_cli(tree, out, "--metadata", metadata), 2, str(metadata), "cannot read metadata file",
                 output=out)


def test_metadata_not_utf8(tree, out, tmp_path):
    metadata = tmp_path / "latin1.yaml"
    metadata.write_bytes("lab: Caf\u00e9 lab\n".encode("latin-1"))
    assert_error(convert_cli(tree, out, "--metadata", metadata), 2, str(metadata), output=out)


def test_metadata_date_time_schema_accepts_but_writer_rejects(tree, out, tmp_path):
    metadata = tmp_path / "meta.yaml"
    metadata.write_text('session_start_time: "2020-01-01t10:00:00z"\n')
    result = convert_cli(tree, out, "--metadata", metadata)
    if result.exit_code == 0:  # accepted and used: that is fine too
        return
    assert_error(result, 2, str(metadata), "session_start_time", output=out)


# --------------------------------------------------------------------------- convert --dandi


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@let_warnings_through
def test_dandi_second_session_fails(lean_tree, out_dir, monkeypatch):
    """A dandiset converted once; a re-run with --overwrite whose second session hits a full disk changes nothing."""
    dandiset = out_dir / "000000"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text("identifier: DANDI:000000\nname: mine, do not touch\n")
    (dandiset / "README.md").write_text("other files stay\n")
    first = run("convert", lean_tree, dandiset, "--dandi", *NATIVE)
    assert first.exit_code == 0, describe(first)
    before = _files(dandiset)
    sessions = [name for name in before if name.endswith(".nwb")]
    assert len(sessions) == 2

    spy = Spy(dandiset)
    fault_in_nwb_write(monkeypatch, spy, OSError(errno.ENOSPC, ENOSPC), on_call=2)
    result = run("convert", lean_tree, dandiset, "--dandi", "--overwrite", *NATIVE)
    assert_error(result, 2, str(dandiset), ENOSPC)
    # The fault struck mid-way, with the first session complete in the staging folder.
    assert spy.calls == 2
    assert _files(dandiset) == before
    assert leftovers(dandiset) == [] and sorted(p.name for p in dandiset.iterdir()) == \
        sorted(["README.md", "dandiset.yaml", *{Path(s).parts[0] for s in sessions}])


@let_warnings_through
def test_dandi_second_session_fails_leaves_no_session_files(lean_tree, out_dir, monkeypatch):
    dandiset = out_dir / "000000"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text("identifier: DANDI:000000\n")
    before = _files(dandiset)
    spy = Spy(dandiset)
    fault_in_nwb_write(monkeypatch, spy, OSError(errno.ENOSPC, ENOSPC), on_call=2)
    assert_error(run("convert", lean_tree, dandiset, "--dandi", "--dandiset-id", "000001", *NATIVE), 2,
                 str(dandiset), ENOSPC)
    assert spy.calls == 2
    assert _files(dandiset) == before and [p.name for p in dandiset.iterdir()] == ["dandiset.yaml"]


@let_warnings_through
def test_dandi_ctrl_c_in_second_session(lean_tree, out_dir, monkeypatch):
    dandiset = out_dir / "000000"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text("identifier: DANDI:000000\n")
    fault_in_nwb_write(monkeypatch, Spy(dandiset), KeyboardInterrupt(), on_call=2)
    assert_error(run("convert", lean_tree, dandiset, "--dandi", *NATIVE), 1, "interrupted")
    assert [p.name for p in dandiset.iterdir()] == ["dandiset.yaml"]


def test_dandi_bad_raw_leaves_dandiset_untouched(tree, out_dir):
    dandiset = out_dir / "000000"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text("identifier: DANDI:000000\n")
    spike_file = unit_spike_file(tree, 1)
    truncate(spike_file)
    assert_error(run("convert", tree, dandiset, "--dandi", *NATIVE), 2, str(spike_file), "not a readable MAT")
    assert _files(dandiset) == {"dandiset.yaml": b"identifier: DANDI:000000\n"}


def test_dandi_output_problems(tree, out_dir):
    target = out_dir / "missing-parent" / "000000"
    assert_error(run("convert", tree, target, "--dandi", *NATIVE), 2, str(target), "does not exist", output=target)
    a_file = out_dir / "000000"
    a_file.write_text("a file, not a folder")
    assert_error(run("convert", tree, a_file, "--dandi", *NATIVE), 2, str(a_file), "not a folder")
    assert a_file.read_text() == "a file, not a folder"


@let_warnings_through
def test_dandi_failure_into_new_folder_leaves_nothing(lean_tree, out_dir, monkeypatch):
    dandiset = out_dir / "000000"
    fault_in_nwb_write(monkeypatch, Spy(out_dir), OSError(errno.ENOSPC, ENOSPC), on_call=2)
    assert_error(run("convert", lean_tree, dandiset, "--dandi", *NATIVE), 2, str(dandiset), ENOSPC, output=dandiset)


# --------------------------------------------------------------------------- real processes


def test_real_process_one_line_and_debug_traceback(tmp_path):
    """The console script in a real process: one line without --debug, a full traceback with it."""
    missing, target = tmp_path / "no-such-release", tmp_path / "ns1.nwb"
    plain = subprocess.run([*console_script(), "convert", str(missing), str(target)],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2, plain.stderr
    assert plain.stderr.splitlines() == [plain.stderr.strip()] and plain.stderr.startswith("error: ")
    assert str(missing) in plain.stderr and "Traceback" not in plain.stderr and plain.stdout == ""
    debug = subprocess.run([*console_script(), "--debug", "convert", str(missing), str(target)],
                           capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1, debug.stderr
    assert "Traceback (most recent call last)" in debug.stderr
    assert "RawFileNotFoundError" in debug.stderr and str(missing) in debug.stderr
    assert list(tmp_path.iterdir()) == []


def test_real_process_sigint_during_write(wav_tree, out):
    """A real Ctrl-C (SIGINT) while the temporary file is being written: exit 1, one line, nothing left."""
    stop_real_conversion_mid_write(wav_tree, out, lambda proc: proc.send_signal(signal.SIGINT))


def test_real_process_sigterm_to_its_group_during_write(wav_tree, out):
    """``timeout`` or a batch scheduler ends the whole process group with SIGTERM while the file is being
    written: exit 1, one line, nothing left, and no process of the group (writers included) lives on."""
    proc = stop_real_conversion_mid_write(wav_tree, out, lambda proc: os.killpg(proc.pid, signal.SIGTERM),
                                           start_new_session=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("a process of the conversion outlived the SIGTERM")


@pytest.fixture
def small_filesystem(tmp_path: Path):
    """A 256 kB tmpfs (root and a mount-capable container only): a real full disk."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@let_warnings_through
def test_real_full_disk(lean_tree, small_filesystem):
    target = small_filesystem / "ns1.nwb"
    proc = subprocess.run([*console_script(), "convert", str(lean_tree), str(target), *NATIVE],
                          capture_output=True, text=True, timeout=300)
    # Whatever happens, the temporary file is gone.
    assert list(small_filesystem.iterdir()) == []
    assert proc.returncode == 2, f"return code {proc.returncode}; stderr starts {proc.stderr[:300]!r}"
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and str(target) in lines[0] and ENOSPC in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
