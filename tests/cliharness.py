"""Running ``ns1nwb convert`` from the tests: the command line in-process and as the real console script,
the checks every fault row makes (one ``error:`` line, the exit code, nothing left behind) and the faults
injected into the writer. Shared by the fault, validation, output-safety and bounded-work tests; their
raw trees and output paths are fixtures in ``conftest.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from click.testing import CliRunner

from ns1nwb.cli import cli

NATIVE = ("--audio-rate", "native")
ENOSPC = "No space left on device"
#: Ns1Warnings are errors in this suite (pyproject); rows that expect a `warning:` line let the CLI print them.
let_warnings_through = pytest.mark.filterwarnings("always::ns1nwb.exceptions.Ns1Warning")


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def run_in(folder: Path, command: str) -> str:
    """Run the command line ``ns1nwb ...`` as a user types it in ``folder`` (the command line in-process);
    its stdout. A failure fails with what it printed."""
    import os
    import shlex

    argv = shlex.split(command)
    assert argv[0] == "ns1nwb", command
    previous = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, argv[1:])
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, f"{command}\n{describe(result)}"
    return result.stdout


def convert_cli(raw: Path, output: Path, *extra: object):
    return run("convert", raw, output, *NATIVE, *extra)


def describe(result) -> str:
    return f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def leftovers(folder: Path) -> list[str]:
    """Temporary files or staging folders (any name with 'partial') under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if "partial" in p.name)


def assert_error(result, code: int, *needles: str, output: Path | None = None) -> str:
    """Exit ``code``, one ``error:`` line holding every needle, no traceback, nothing left at ``output``."""
    report = describe(result)
    assert result.exit_code == code, report
    assert isinstance(result.exception, SystemExit), report  # handled, not an escaped exception
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), report
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in the error line\n{report}"
    assert "Traceback" not in result.stderr + result.stdout, report
    if output is not None:
        assert not output.exists(), f"{output} was left behind\n{report}"
        if output.parent.is_dir():
            assert leftovers(output.parent) == [], report
    return lines[0]


def assert_ok(result, output: Path) -> list[str]:
    """Exit 0, the output written, no temporary left; returns the ``warning:`` lines."""
    report = describe(result)
    assert result.exit_code == 0, report
    assert output.is_file() and leftovers(output.parent) == [], report
    assert "Traceback" not in result.stderr + result.stdout, report
    lines = result.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in lines), report
    return lines


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("ns1nwb")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ns1nwb.cli"]


class Spy:
    """What a fault injected mid-write saw: the temporary file(s) present when it struck."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.seen: list[str] = []
        self.calls = 0

    def snapshot(self) -> None:
        # The output's lock file (ns1nwb.write.output_lock) is there throughout: not part of what is being written.
        self.seen = [str(p.relative_to(self.folder)) for p in self.folder.rglob("*")
                     if p.is_file() and not p.name.endswith(".ns1nwb.lock")]


def fault_in_nwb_write(monkeypatch, spy: Spy, exc: BaseException, on_call: int = 1) -> None:
    """The ``on_call``-th file ns1nwb writes to disk (:func:`ns1nwb.write.write_to`) gets half its bytes, then
    its write raises ``exc`` (an ``OSError`` is a disk failure)."""
    from ns1nwb import write

    def failing_open(path, mode="r", *args, **kwargs):
        file = open(path, mode, *args, **kwargs)
        if "w" not in mode:
            return file
        spy.calls += 1
        if spy.calls != on_call:
            return file

        class HalfWritten:
            def __enter__(self):
                return self

            def __exit__(self, *exc_info):
                file.close()

            def write(self, data):
                file.write(data[:len(data) // 2])
                file.flush()
                spy.snapshot()
                raise exc

        return HalfWritten()

    monkeypatch.setattr(write, "open", failing_open, raising=False)


def stop_real_conversion_mid_write(tree: Path, out: Path, stop: Callable[[subprocess.Popen], None],
                                    **popen: Any) -> subprocess.Popen:
    """Run the console script's convert and ``stop`` it mid-way (its lock taken, its files being read and built);
    then check what a stopped conversion must show: exit 1, one ``error: ... interrupted`` line, no traceback,
    and either nothing left (the usual case) or, when the stop came once the file was in place, the complete
    file and a line saying so."""
    from ns1nwb.write import lock_path

    proc = subprocess.Popen([*console_script(), "convert", str(tree), str(out), *NATIVE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    started, deadline = False, time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline and not started:
            started = lock_path(out).exists()
            time.sleep(0.005)
        if started:
            time.sleep(0.3)  # into the reading and building
            stop(proc)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if not started or stdout.startswith("wrote "):
        pytest.skip("the conversion ended before the stop; nothing to interrupt")
    assert proc.returncode == 1, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "interrupted" in lines[0], stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr and stdout == "", stderr
    assert leftovers(out.parent) == [] and not lock_path(out).exists()
    if "is complete" in lines[0]:
        assert out.is_file()
    else:
        assert "nothing was written" in lines[0] and not out.exists()
    return proc
