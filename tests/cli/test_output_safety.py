"""The output as the command line guards it, end to end: one conversion per output, what a user sees when
it is refused, a stop before or once the output is in place. The rules themselves (the lock, placing all or
none, what may be replaced, never an input) are unit-tested on ns1nwb.write in tests/nwb/test_write.py.

Rows run the CLI in-process like ``tests/cli/test_faults.py`` (whose fixtures and helpers they share), except the
rows about two conversions at once or the interpreter's last moments, which run real processes. Rows whose
conversion must still be running when it is stopped convert ``tree`` or ``wav_tree`` (wavs, test_data_5ms.mat);
the others convert ``lean_tree`` (no wavs: its one ``warning:`` line aside, nothing else may be printed).
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pynwb import NWBHDF5IO

from ns1nwb.constants import METADATA_FILE, SPECTROGRAM_FILE, SPIKES_DIR, STIMULI, WAV_DIR
from ns1nwb.exceptions import Ns1Warning, OutputComplete
from ns1nwb.write import lock_path
from rawedit import unit_spike_file
from cliharness import (ENOSPC, NATIVE, Spy, assert_error, assert_ok, console_script, convert_cli,
                        fault_in_nwb_write, leftovers, let_warnings_through, run,
                        stop_real_conversion_mid_write)


def _stop_this_process(signum: int) -> None:
    """Send ``signum`` as a Ctrl-C does, to the main thread (where Python runs handlers): a process-directed
    signal may land on a background thread (fsspec's, after a remote test in this worker), and Python then
    runs the handler a little later, after the code under test has moved on."""
    import threading

    signal.pthread_kill(threading.main_thread().ident, signum)


def _n_units(path: Path) -> int:
    with NWBHDF5IO(str(path), "r") as io:
        return len(io.read().units)


def _no_lock(output: Path) -> bool:
    return not any(p.name.endswith(".ns1nwb.lock") for p in output.parent.iterdir())


def _other_lines(stderr: str) -> list[str]:
    """stderr without the one ``warning:`` line of a tree without wavs (``lean_tree``): nothing else may be there."""
    lines = stderr.splitlines()
    wavs = [line for line in lines if line.startswith("warning: ") and "natural-sound wavs missing" in line]
    assert len(wavs) == 1, stderr
    return [line for line in lines if line not in wavs]


def _hold_lock(output: Path, pid: int = 4242) -> int:
    """Hold ``output``'s lock as another process would (a separate open file: flock refuses this process too)."""
    fd = os.open(lock_path(output), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, f"{pid}\n".encode())
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


# --------------------------------------------------------------------------- exclusive output

#: A conversion that waits, lock held and file written, for the file ``argv[1]`` before its final rename.
_WAITING_CONVERSION = """
import sys, time
from pathlib import Path
import ns1nwb.write as write
go = Path(sys.argv.pop(1))
original = write._place_all
def place_all(*args, **kwargs):
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return original(*args, **kwargs)
write._place_all = place_all
from ns1nwb.cli import main
sys.argv[0] = "ns1nwb"
main()
"""


def test_second_conversion_while_the_first_writes_is_refused(lean_tree, out, tmp_path):
    """Two real processes, one output: the second, started while the first holds the output, is refused at
    once (exit 2, one line naming the first's pid); the first writes and says so; exactly one "wrote"."""
    go = tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", _WAITING_CONVERSION, str(go), "convert", str(lean_tree),
                              str(out), *NATIVE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while first.poll() is None and time.monotonic() < deadline and not leftovers(out.parent):
            time.sleep(0.02)  # the first has its lock and is writing its temporary file
        assert first.poll() is None and lock_path(out).exists(), first.communicate()
        second = subprocess.run([*console_script(), "convert", str(lean_tree), str(out), *NATIVE],
                                capture_output=True, text=True, timeout=300)
        go.touch()
        stdout, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0 and stdout.startswith(f"wrote {out}"), stderr
    assert _other_lines(stderr) == [], stderr  # the one warning: its wavs are missing
    assert second.returncode == 2 and second.stdout == "", second.stderr
    assert second.stderr.splitlines() == [
        f"error: {out}: another ns1nwb process is writing it; wait for it to end or choose another output"]
    assert _n_units(out) == 2 and leftovers(out.parent) == [] and _no_lock(out)


def test_two_conversions_started_together(lean_tree, out):
    """Two real processes started at the same moment: one writes, the other is refused (by the lock or, if
    the first was already done, because the file exists); never two "wrote"."""
    command = [*console_script(), "convert", str(lean_tree), str(out), *NATIVE]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    assert sum(stdout.startswith("wrote ") for _, stdout, _ in results) == 1, results
    refused = next(stderr for code, _, stderr in results if code == 2)
    assert len(refused.splitlines()) == 1 and refused.startswith(f"error: {out}: "), refused
    assert "is writing it" in refused or "already exists" in refused, refused
    assert _n_units(out) == 2 and leftovers(out.parent) == [] and _no_lock(out)


def test_output_held_by_another_process_is_refused(tree, out):
    fd = _hold_lock(out)
    try:
        assert_error(convert_cli(tree, out), 2, str(out), "another ns1nwb process is writing it", output=out)
        assert lock_path(out).exists()  # the holder's, left alone
    finally:
        os.close(fd)


@pytest.mark.parametrize("case", ["success", "bad input", "ctrl-c", "disk full"])
@let_warnings_through
def test_lock_is_removed_on_every_way_out(lean_tree, out, tmp_path, monkeypatch, case):
    if case == "success":
        assert_ok(convert_cli(lean_tree, out), out)
    elif case == "bad input":
        unit_spike_file(lean_tree, 1).write_bytes(b"not a MAT file")
        assert_error(convert_cli(lean_tree, out), 2, output=out)
    else:
        exc = KeyboardInterrupt() if case == "ctrl-c" else OSError(errno.ENOSPC, ENOSPC)
        fault_in_nwb_write(monkeypatch, Spy(out.parent), exc)
        assert_error(convert_cli(lean_tree, out), 1 if case == "ctrl-c" else 2, output=out)
    assert _no_lock(out), sorted(p.name for p in out.parent.iterdir())


def test_real_sigterm_mid_write_removes_the_lock(wav_tree, out):
    stop_real_conversion_mid_write(wav_tree, out, lambda proc: proc.send_signal(signal.SIGTERM))
    assert _no_lock(out)


# --------------------------------------------------------------------------- what may be replaced


@pytest.mark.parametrize("make, overwrite, problem", [
    pytest.param(lambda p, t: p.symlink_to("/proc/self/fd/1"), True, "symbolic link", id="link-to-stdout"),
    pytest.param(lambda p, t: p.symlink_to(t / "elsewhere.nwb"), False, "symbolic link", id="dangling-link"),
    pytest.param(lambda p, t: (t / "real.nwb").write_text("x") and p.symlink_to(t / "real.nwb"), True,
                 "symbolic link", id="link-to-a-file"),
    pytest.param(lambda p, t: os.mkfifo(p), True, "not a regular file", id="fifo"),
])
def test_output_that_is_not_a_regular_file_is_refused(tree, out, tmp_path, make, overwrite, problem):
    make(out, tmp_path)
    before = os.lstat(out)
    result = convert_cli(tree, out, *(["--overwrite"] if overwrite else []))
    assert_error(result, 2, str(out), problem)
    after = os.lstat(out)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert not (tmp_path / "elsewhere.nwb").exists() and leftovers(out.parent) == [] and _no_lock(out)
    if (tmp_path / "real.nwb").exists():
        assert (tmp_path / "real.nwb").read_text() == "x"


@pytest.mark.parametrize("where", ["metadata", "spike file", "wav", "spectrogram", "yaml", "inside spikesandwav",
                                   "hard link", "through a link"])
def test_an_input_is_never_the_output(tree, tmp_path, where):
    yaml_file = tmp_path / "meta.yaml"
    yaml_file.write_text("lab: Auditory Neuroscience\n")
    (tmp_path / "raw-link").symlink_to(tree)
    target = {
        "metadata": tree / METADATA_FILE,
        "spike file": unit_spike_file(tree, 0),
        "wav": tree / SPIKES_DIR / WAV_DIR / STIMULI[0].wav_name,  # its folder is a link to the shared tree's
        "spectrogram": tree / SPECTROGRAM_FILE,
        "yaml": yaml_file,
        "inside spikesandwav": tree / SPIKES_DIR / "ns1.nwb",
        "hard link": tmp_path / "copy.mat",
        "through a link": tmp_path / "raw-link" / METADATA_FILE,
    }[where]
    if where == "hard link":
        os.link(tree / METADATA_FILE, target)
    snapshot = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    result = convert_cli(tree, target, "--overwrite", "--metadata", yaml_file)
    assert_error(result, 2, str(target), "is an input of this conversion" if where not in (
        "inside spikesandwav", "spike file", "wav") else "lies inside")
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == snapshot
    assert yaml_file.read_text() == "lab: Auditory Neuroscience\n"
    assert not (tree / SPIKES_DIR / "ns1.nwb").exists()


# --------------------------------------------------------------------------- --dandi


def test_dandi_folder_that_is_a_link_is_refused(tree, out_dir):
    real = out_dir / "real"
    real.mkdir()
    (out_dir / "000000").symlink_to(real)
    assert_error(run("convert", tree, out_dir / "000000", "--dandi", *NATIVE), 2, "symbolic link")
    assert list(real.iterdir()) == []


def test_dandi_folder_of_other_files_is_refused(tree, out_dir):
    folder = out_dir / "home"
    folder.mkdir()
    (folder / "thesis.tex").write_text("mine")
    assert_error(run("convert", tree, folder, "--dandi", "--overwrite", *NATIVE), 2, str(folder),
                 "neither a dandiset")
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"] and _no_lock(folder)


@let_warnings_through
def test_dandi_session_file_that_is_a_link_is_refused(lean_tree, out_dir):
    folder = out_dir / "000000"
    assert run("convert", lean_tree, folder, "--dandi", *NATIVE).exit_code == 0
    session = sorted(folder.rglob("*.nwb"))[0]
    session.unlink()
    session.symlink_to("/proc/self/fd/1")
    assert_error(run("convert", lean_tree, folder, "--dandi", "--overwrite", *NATIVE), 2, str(session),
                 "symbolic link")
    assert session.is_symlink() and leftovers(folder) == []


def test_dandi_folder_held_by_another_process_is_refused(tree, out_dir):
    folder = out_dir / "000000"
    fd = _hold_lock(folder, pid=777)
    try:
        assert_error(run("convert", tree, folder, "--dandi", *NATIVE), 2, str(folder), "another ns1nwb process is writing it")
    finally:
        os.close(fd)
    assert not folder.exists()


# --------------------------------------------------------------------------- a stop once the output is in place


@pytest.fixture
def console_handlers():
    """Stop signals handled as under the console script (KeyboardInterrupt), restored afterwards."""
    from ns1nwb.cli import _interrupt

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _signal_after_placing(monkeypatch, inside: Path, signum: int) -> list[str]:
    """Send ``signum`` to this process right after the first rename (or link) of a file to ``inside`` (the
    output file, or a file under the output folder)."""
    real_link, real_replace = os.link, os.replace
    fired: list[str] = []

    def after(dst: object) -> None:
        path = Path(os.fsdecode(dst))
        if not fired and (path == inside or inside in path.parents) and "partial" not in str(path):
            fired.append(str(path))
            _stop_this_process(signum)

    def link(src, dst, *args, **kwargs):
        real_link(src, dst, *args, **kwargs)
        after(dst)

    def replace(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        after(dst)

    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(os, "replace", replace)
    return fired


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@let_warnings_through
def test_stop_just_after_the_rename(lean_tree, out, monkeypatch, console_handlers, signum):
    """The file is complete: one line saying so (not "nothing was written"), exit 1, no lock left."""
    fired = _signal_after_placing(monkeypatch, out, signum)
    line = assert_error(convert_cli(lean_tree, out), 1, "interrupted after the output was written", str(out))
    assert fired == [str(out)] and "nothing was written" not in line
    assert _n_units(out) == 2 and leftovers(out.parent) == [] and _no_lock(out)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the deferral ended with the command


@let_warnings_through
def test_stop_after_the_first_dandi_session_moves_them_all(lean_tree, out_dir, monkeypatch, console_handlers):
    folder = out_dir / "000000"
    fired = _signal_after_placing(monkeypatch, folder, signal.SIGTERM)
    assert_error(run("convert", lean_tree, folder, "--dandi", *NATIVE), 1, "interrupted after the output was written")
    assert len(fired) == 1 and len(list(folder.rglob("*_ecephys.nwb"))) == 2 and leftovers(folder) == []


def test_library_call_raises_after_the_output_is_complete(lean_tree, out, monkeypatch, console_handlers):
    import ns1nwb

    _signal_after_placing(monkeypatch, out, signal.SIGINT)
    with pytest.raises(OutputComplete), pytest.warns(Ns1Warning, match="wavs missing"):
        ns1nwb.convert(lean_tree, out, audio_rate_hz=None)
    assert _n_units(out) == 2 and _no_lock(out)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


#: The console script, with a stop sent right after the final rename, from a finaliser run by a collection.
_STOP_IN_A_FINALISER = """
import gc, os, signal, sys
signum = getattr(signal, sys.argv.pop(1))
real_link = os.link

class Finalised:
    def __del__(self):
        os.kill(os.getpid(), signum)
        sum(range(1000))  # a few bytecodes: the handler runs here, inside the finaliser

def link(src, dst, *args, **kwargs):
    real_link(src, dst, *args, **kwargs)
    if "partial" not in os.fsdecode(dst):
        cycle = Finalised()
        cycle.me = cycle
        del cycle
        gc.collect()
os.link = link
from ns1nwb.cli import main
sys.argv[0] = "ns1nwb"
main()
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_real_stop_in_a_finaliser_after_the_rename(lean_tree, out, name):
    proc = subprocess.run([sys.executable, "-c", _STOP_IN_A_FINALISER, name, "convert", str(lean_tree), str(out),
                           *NATIVE], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert _other_lines(proc.stderr) == [f"error: interrupted after the output was written; {out} is complete"]
    assert _n_units(out) == 2 and leftovers(out.parent) == [] and _no_lock(out)
