"""convert --dandi: per-session files in DANDI's layout that `dandi validate` accepts; ns1nwb inspect."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import ns1nwb
from ns1nwb import OutputError
from ns1nwb.cli import cli
from ns1nwb import convert


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _convert_dandi(raw: Path, folder: Path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return convert(raw, folder, dandi=True, **kwargs)


def _dandi_validate(folder: Path) -> subprocess.CompletedProcess:
    dandi = Path(sys.executable).with_name("dandi")
    env = {**os.environ, "DANDI_NO_ET": "1", "DANDI_CACHE": "ignore"}
    return subprocess.run([str(dandi), "validate", "--min-severity", "ERROR", str(folder)],
                          capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def sample_dandi(sample_raw, tmp_path_factory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("dandi") / "000000"
    result = _convert_dandi(sample_raw, folder, dandiset_id="000000")
    return folder, result


def test_layout_one_file_per_block(sample_raw, sample_dandi):
    folder, result = sample_dandi
    files = sorted(folder.rglob("*.nwb"))
    release = ns1nwb.read_raw_tree(sample_raw)
    assert len(files) == len(release.recording_blocks) == result.n_sessions
    assert sorted(result.output_paths) == files
    for file in files:
        subject = file.parent.name.removeprefix("sub-")
        assert file.name.startswith(f"sub-{subject}_ses-") and file.name.endswith("_ecephys.nwb")
        with h5py.File(file, "r") as f:
            assert f["general/subject/subject_id"][()].decode() == subject
            assert set(_text(f["units/subject_id"][:])) == {subject}
            session = f["general/session_id"][()].decode()
            assert f"_ses-{session}_" in file.name
            assert set(_text(f["intervals/trials/session_id"][:])) == {session}
            assert len(f["intervals/trials/id"]) == 460
            # The block's real start: its first raw onset, and the first trial at 0 s.
            first = min(_text(f["intervals/trials/onset_timestamp"][:]))
            start = datetime.strptime(first, "%Y%m%d-%H%M%S%f").replace(tzinfo=ZoneInfo("Europe/London"))
            assert datetime.fromisoformat(f["session_start_time"][()].decode()) == start
            assert f["intervals/trials/start_time"][0] == 0.0
            assert len(f["stimulus/templates"]) == 40
            # Provenance: this block's spike files only, with their checksums.
            sources = _text(f["processing/provenance/source_files/file_name"][:])
            spike_sources = [s for s in sources if s.endswith(".data.mat")]
            assert sorted(spike_sources) == sorted("spikesandwav/" + p for p in _text(f["units/spike_file"][:]))
    assert (folder / "dandiset.yaml").read_text().startswith("identifier: DANDI:000000")


def test_dandi_validate_accepts_the_folder(sample_dandi):
    folder, _ = sample_dandi
    result = _dandi_validate(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


def test_folder_reads_like_the_pooled_file(sample_dandi, sample_nwb):
    folder, _ = sample_dandi
    with ns1nwb.open(sample_nwb) as pooled, ns1nwb.open(folder) as sessions:
        np.testing.assert_array_equal(pooled.response_grid(), sessions.response_grid())
        np.testing.assert_array_equal(pooled.response_grid(stimuli=range(20, 32)),
                                      sessions.response_grid(stimuli=range(20, 32)))
        assert list(pooled.units.unit_name) == list(sessions.units.unit_name)
        np.testing.assert_allclose(pooled.trial_spike_times_ms(3, 7, 2), sessions.trial_spike_times_ms(3, 7, 2),
                                   atol=1e-9)


def test_identifiers_are_stable_and_distinct(sample_raw, sample_dandi, tmp_path):
    folder, _ = sample_dandi
    again = tmp_path / "again"
    _convert_dandi(sample_raw, again)

    def identifiers(root: Path) -> dict[str, str]:
        found = {}
        for file in root.rglob("*.nwb"):
            with h5py.File(file, "r") as f:
                found[file.name] = f["identifier"][()].decode()
        return found

    first, second = identifiers(folder), identifiers(again)
    assert first == second
    assert len(set(first.values())) == len(first)


def test_keeps_other_files_and_refuses_to_replace(sample_raw, sample_dandi, tmp_path):
    folder = tmp_path / "dandiset"
    folder.mkdir()
    (folder / "dandiset.yaml").write_text("identifier: DANDI:123456\n")
    _convert_dandi(sample_raw, folder)
    assert (folder / "dandiset.yaml").read_text() == "identifier: DANDI:123456\n"
    with pytest.raises(OutputError, match="--overwrite"):
        _convert_dandi(sample_raw, folder)
    _convert_dandi(sample_raw, folder, overwrite=True)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_subject_metadata_per_ferret(sample_raw, tmp_path):
    metadata = tmp_path / "meta.yaml"
    metadata.write_text("subjects:\n  exp45:\n    sex: F\n    age: P8M\n    weight: 0.7 kg\n    description: Jill\n")
    result = _convert_dandi(sample_raw, tmp_path / "out", metadata_path=metadata)
    assert result.defaulted_subject_fields["exp45"] == []
    assert result.defaulted_subject_fields["exp57"] == ["sex", "age", "weight", "description"]
    (exp45,) = [p for p in result.output_paths if p.parent.name == "sub-exp45"][:1]
    with h5py.File(exp45, "r") as f:
        assert f["general/subject/sex"][()].decode() == "F"
        assert f["general/subject/age"][()].decode() == "P8M"
    assert "exp57: sex, age, weight, description" in result.summary()


def test_inspect_command(sample_dandi, tmp_path):
    folder, _ = sample_dandi
    result = CliRunner().invoke(cli, ["inspect", str(folder)])
    assert result.exit_code == 0, result.output
    assert "CRITICAL" not in result.output and "inspected" in result.output

    # A file whose spike times are obviously not in seconds is CRITICAL: exit 1.
    from pynwb import NWBHDF5IO, NWBFile

    bad = NWBFile(session_description="bad", identifier="bad", session_start_time=datetime(2020, 1, 1,
                                                                                            tzinfo=ZoneInfo("UTC")))
    bad.add_unit(spike_times=[0.0, 5e7])
    with NWBHDF5IO(tmp_path / "bad.nwb", "w") as io:
        io.write(bad)
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "bad.nwb")])
    assert result.exit_code == 1 and "CRITICAL" in result.output


@pytest.mark.realdata
def test_real_release_dandi_folder(real_raw, real_nwb, tmp_path_factory):
    folder = tmp_path_factory.mktemp("real-dandi") / "000000"
    result = _convert_dandi(real_raw, folder, dandiset_id="000000")
    assert result.n_sessions == 15 and len(result.output_paths) == 15
    subjects = [p.parent.name for p in result.output_paths]
    assert {s: subjects.count(s) for s in set(subjects)} == {
        "sub-dataAC": 3, "sub-exp42": 2, "sub-exp45": 5, "sub-exp53": 1, "sub-exp57": 4}
    validation = _dandi_validate(folder)
    assert validation.returncode == 0, validation.stdout + validation.stderr
    with ns1nwb.open(real_nwb) as pooled, ns1nwb.open(folder) as sessions:
        np.testing.assert_array_equal(pooled.response_grid(), sessions.response_grid())
    shutil.rmtree(folder)
