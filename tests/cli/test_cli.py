"""The command line: every command has --help; errors are one line with the right exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from ns1nwb import __version__
from ns1nwb.cli import cli

COMMANDS = [name for name in cli.commands]


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_version_and_help():
    assert __version__ in _run("--version").output
    result = _run("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name):
    result = _run(name, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_does_not_import_heavy_packages():
    code = ("import sys; from ns1nwb.cli import cli; "
            "heavy = [m for m in ('pynwb', 'scipy', 'hdmf', 'pandas') if m in sys.modules]; print(heavy)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_sample_data_then_convert(tmp_path):
    result = _run("sample-data", str(tmp_path / "raw"), "--units", "2", "--seed", "4")
    assert result.exit_code == 0, result.output
    result = _run("convert", str(tmp_path / "raw"), str(tmp_path / "out.nwb"))
    assert result.exit_code == 0, result.output
    assert "2 units" in result.output and (tmp_path / "out.nwb").is_file()
    again = _run("convert", str(tmp_path / "raw"), str(tmp_path / "out.nwb"))
    assert again.exit_code == 2
    assert again.stderr.count("\n") == 1 and "--overwrite" in again.stderr  # (--overwrite: test_output_safety)


def test_missing_raw_folder_is_one_line(tmp_path):
    result = _run("convert", str(tmp_path / "nope"), str(tmp_path / "out.nwb"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and str(tmp_path / "nope") in result.stderr
    assert not (tmp_path / "out.nwb").exists()


def test_bad_audio_rate_is_a_usage_error(tmp_path):
    result = _run("convert", str(tmp_path), str(tmp_path / "out.nwb"), "--audio-rate", "fast")
    assert result.exit_code == 2 and "audio rate" in result.stderr


def test_sample_data_refuses_an_existing_tree(tmp_path):
    assert _run("sample-data", str(tmp_path / "raw"), "--units", "1").exit_code == 0
    result = _run("sample-data", str(tmp_path / "raw"), "--units", "1")
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


def test_ci_runs_the_readme_test_command():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme_lines = (root / "README.md").read_text().splitlines()
    ci_command = [line for line in (root / ".ci/run").read_text().splitlines() if line.startswith("python3 -m venv")]
    assert len(ci_command) == 1
    assert ci_command[0] in readme_lines[:12]
