"""What a user sees when ``ns1nwb convert`` meets a fault, end to end: one row per kind of answer the command
line must render.

Each row checks the exit code (2 bad input / usage, 1 internal or interrupted, 0 tolerated), exactly one
``error:`` line on stderr (``warning:`` lines aside) naming the file and the problem, no traceback, and
nothing left behind: no file at the output path, no hidden ``*.partial*`` file or staging folder beside it.
The kinds: bad raw input, a tolerated fault (a ``warning:`` line), ``--strict``, an output refused, an
interruption, an internal error; and the console script in real processes (``--debug``, a real SIGINT or
SIGTERM mid-write, a real full disk on a 256 kB tmpfs when root can mount one).

Which faults are refused, and with which words, is tested row by row on the library: raw values in
tests/release (test_validate.py, test_spike_files.py, test_blocks.py, test_tree.py) and tests/nwb/test_naming.py,
the metadata YAML in tests/test_user_metadata.py, the output and the disk in tests/nwb/test_write.py and
test_dandi.py. The command line prints any of them the same way: ``error: <message>``, exit 2.

Rows run ``ns1nwb.cli.cli`` in-process with click's ``CliRunner`` on a private copy of a small generated tree
(``base_raw``: 2 units in 2 recording blocks); rows about the writer use a copy without wavs (``lean_tree``: no
stimulus templates, 5x faster to write; they let the 'wavs missing' warning through).
Conversions use ``--audio-rate native`` unless the row is about the rate: it skips resampling.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import ns1nwb
from cliharness import (ENOSPC, NATIVE, Spy, assert_error, assert_ok, console_script, convert_cli,
                        fault_in_nwb_write, let_warnings_through, stop_real_conversion_mid_write)
from rawedit import truncate, unit_paths, unit_spike_file


# --------------------------------------------------------------------------- in-process, one row per kind


def test_bad_raw_input_is_one_line(tree, out):
    """A spike file that is not a MAT file: exit 2, one line naming it, nothing written."""
    spike_file = unit_spike_file(tree, 1)
    truncate(spike_file)
    assert_error(convert_cli(tree, out), 2, str(spike_file), "not a readable MAT file", output=out)


@let_warnings_through
def test_missing_spike_file_is_skipped(tree, out):
    """Tolerated: one ``warning:`` line naming the file, exit 0, the summary says what was skipped."""
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
    """The same under ``--strict``: an error, exit 2, nothing written."""
    missing = unit_spike_file(tree, 1)
    missing.unlink()
    assert_error(convert_cli(tree, out, "--strict"), 2, str(missing), "not found", "--strict", output=out)


def test_existing_output_is_untouched(tree, out):
    """An output refused (it exists, no ``--overwrite``): the file keeps its bytes, inode and time."""
    out.write_bytes(b"precious: not an NWB file")
    os.utime(out, (1_000_000_000, 1_000_000_000))
    before = out.stat()
    assert_error(convert_cli(tree, out), 2, str(out), "already exists", "--overwrite")
    assert out.read_bytes() == b"precious: not an NWB file"
    assert out.stat().st_mtime_ns == before.st_mtime_ns and out.stat().st_ino == before.st_ino
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


@let_warnings_through
def test_ctrl_c_line_names_the_output(lean_tree, out, monkeypatch):
    """Interrupted while the file is written: exit 1, one line naming the output, nothing left."""
    fault_in_nwb_write(monkeypatch, Spy(out.parent), KeyboardInterrupt())
    assert_error(convert_cli(lean_tree, out), 1, "interrupted", str(out), output=out)


def test_internal_error_is_one_line(tree, out, monkeypatch):
    """A bug (any exception ns1nwb does not raise on purpose): exit 1, one line asking for a report."""
    import ns1nwb.conversion

    def a_bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ns1nwb.conversion, "plan_blocks", a_bug)
    line = assert_error(convert_cli(tree, out), 1, "internal error (RuntimeError: a bug)", "--debug", "report it",
                        output=out)
    assert str(tree) not in line  # not a fault of the input


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
