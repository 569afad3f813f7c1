"""ns1nwb.write, the one place that touches outputs: the lock, temporaries placed all or none, what may be
replaced, never an input. Pure file-system tests (no conversion); the command line's few end-to-end rows
are in tests/cli/test_output_safety.py."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ns1nwb import write
from ns1nwb.exceptions import OutputComplete, OutputError
from ns1nwb.write import check_replaceable, lock_path, output_lock, refuse_inputs, staged_files


def _stop_this_process(signum: int) -> None:
    """Send ``signum`` as a Ctrl-C does, to the main thread (where Python runs handlers): a process-directed
    signal may land on a background thread (fsspec's, after a remote test in this worker), and Python then
    runs the handler a little later, after the code under test has moved on."""
    import threading

    signal.pthread_kill(threading.main_thread().ident, signum)


def _entries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


_HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


# --------------------------------------------------------------------------------------------- the lock

def test_lock_is_exclusive_across_processes(tmp_path):
    out = tmp_path / "ns1.nwb"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(lock_path(out))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match=r"ns1\.nwb: another ns1nwb process is writing it"):
            with output_lock(out):
                pass
    finally:
        holder.communicate("")
    with output_lock(out):  # free once the holder has ended
        assert lock_path(out).exists()
    assert _entries(tmp_path) == []


def test_lock_nests_in_one_process_and_goes_on_every_way_out(tmp_path):
    out = tmp_path / "ns1.nwb"
    with pytest.raises(KeyboardInterrupt):
        with output_lock(out):
            with output_lock(out):
                assert lock_path(out).exists()
            assert lock_path(out).exists()  # the outer hold still has it
            raise KeyboardInterrupt
    assert _entries(tmp_path) == []


def test_a_lock_file_left_by_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "ns1.nwb"
    lock_path(out).write_text("12345\n")
    with output_lock(out):
        pass
    assert _entries(tmp_path) == []


@pytest.mark.parametrize("name, short", [("ns1.nwb", True), ("a" * 240 + ".nwb", True)])
def test_lock_names(tmp_path, name, short):
    path = lock_path(tmp_path / name)
    assert path.parent == tmp_path and path.name.startswith(".") and path.name.endswith(".ns1nwb.lock")
    assert len(path.name) < 100 if name.startswith("a") else path.name == ".ns1.nwb.ns1nwb.lock"


def test_lock_in_a_missing_folder_says_so(tmp_path):
    with pytest.raises(OutputError, match=r"output folder .*missing does not exist; create it first"):
        with output_lock(tmp_path / "missing" / "ns1.nwb"):
            pass
    assert _entries(tmp_path) == []


def test_lock_in_a_read_only_folder_says_so(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot create the lock file"):
            with output_lock(tmp_path / "ns1.nwb"):
                pass
    finally:
        tmp_path.chmod(0o700)


def test_taking_the_lock_removes_what_killed_runs_of_that_output_left(tmp_path):
    out = tmp_path / "ns1.nwb"
    (tmp_path / ".ns1.nwb.0123456789ab.ns1nwb-partial").write_bytes(b"half")
    (tmp_path / ".ns1.nwb.abcdefabcdef.ns1nwb-partial").mkdir()
    (tmp_path / ".other.nwb.0123456789ab.ns1nwb-partial").write_bytes(b"not ours to remove")
    with output_lock(out):
        assert _entries(tmp_path) == [".ns1.nwb.ns1nwb.lock", ".other.nwb.0123456789ab.ns1nwb-partial"]


# ------------------------------------------------------------------------------------------ placing files

def test_files_are_placed_together_and_temporaries_go(tmp_path):
    targets = [tmp_path / "a.nwb", tmp_path / "sub-x" / "b.nwb"]
    with staged_files(targets, overwrite=False) as temporaries:
        for temporary, text in zip(temporaries, "ab"):
            assert temporary.parent in (tmp_path, tmp_path / "sub-x") or temporary.parent == tmp_path
            temporary.parent.mkdir(exist_ok=True)
            temporary.write_text(text)
        assert not any(t.exists() for t in targets)  # nothing in place before the block ends
    assert [t.read_text() for t in targets] == ["a", "b"]
    assert _entries(tmp_path) == ["a.nwb", "sub-x", "sub-x/b.nwb"]


@pytest.mark.parametrize("failure", [ValueError("a bug"), KeyboardInterrupt(), OutputError("disk full")])
def test_a_failure_while_writing_places_nothing(tmp_path, failure):
    targets = [tmp_path / "a.nwb", tmp_path / "b.nwb"]
    targets[1].write_text("old")
    with pytest.raises(type(failure)):
        with staged_files(targets, overwrite=True) as temporaries:
            temporaries[0].write_text("new")
            raise failure
    assert _entries(tmp_path) == ["b.nwb"] and targets[1].read_text() == "old"


def test_a_failure_while_placing_undoes_what_was_placed(tmp_path, monkeypatch):
    """The second of three renames fails: the first new file goes, the old files come back, nothing else."""
    targets = [tmp_path / f"{name}.nwb" for name in "abc"]
    for target in targets:
        target.write_text(f"old {target.stem}")
    real_link, calls = os.link, []

    def link(src, dst, *args, **kwargs):
        calls.append(dst)
        if len(calls) == 2:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", link)
    with pytest.raises(OutputError, match=r"b\.nwb: cannot put the new file in place \(Permission denied\)"):
        with staged_files(targets, overwrite=True) as temporaries:
            for temporary in temporaries:
                temporary.write_text("new")
    assert [t.read_text() for t in targets] == ["old a", "old b", "old c"]
    assert _entries(tmp_path) == ["a.nwb", "b.nwb", "c.nwb"]


def test_a_made_folder_is_removed_when_placing_fails(tmp_path, monkeypatch):
    targets = [tmp_path / "sub-x" / "a.nwb", tmp_path / "sub-y" / "b.nwb"]
    monkeypatch.setattr(write, "_link_or_rename", _fail_second(write._link_or_rename))
    with pytest.raises(OutputError):
        with staged_files(targets, overwrite=False, staging=_staging(tmp_path)) as temporaries:
            for temporary in temporaries:
                temporary.write_text("new")
    assert _entries(tmp_path) == [".staging"]


def _staging(folder: Path) -> Path:
    (folder / ".staging").mkdir()
    return folder / ".staging"


def _fail_second(function):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return function(*args, **kwargs)

    return failing


def test_an_existing_file_is_kept_without_overwrite(tmp_path):
    target = tmp_path / "a.nwb"
    target.write_text("mine")
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        with staged_files([target], overwrite=False) as (temporary,):
            temporary.write_text("new")
    assert target.read_text() == "mine" and _entries(tmp_path) == ["a.nwb"]


def test_a_file_that_appeared_meanwhile_is_left_as_it_is(tmp_path):
    target = tmp_path / "a.nwb"
    with pytest.raises(OutputError, match="appeared while converting|already exists"):
        with staged_files([target], overwrite=False) as (temporary,):
            temporary.write_text("new")
            target.write_text("made by another program")
    assert target.read_text() == "made by another program" and _entries(tmp_path) == ["a.nwb"]


def test_a_stop_while_placing_waits_and_says_the_output_is_complete(tmp_path, monkeypatch):
    """SIGINT sent to this process between two renames: both files are placed, then OutputComplete."""
    targets = [tmp_path / "a.nwb", tmp_path / "b.nwb"]
    real_link = os.link

    def link(src, dst, *args, **kwargs):
        real_link(src, dst, *args, **kwargs)
        if Path(dst) == targets[0]:
            _stop_this_process(signal.SIGINT)

    monkeypatch.setattr(os, "link", link)
    # Ctrl-C's Python handler, whatever an earlier test in this worker left (restored afterwards).
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(OutputComplete) as caught:
            with staged_files(targets, overwrite=False) as temporaries:
                for temporary in temporaries:
                    temporary.write_text("new")
    finally:
        signal.signal(signal.SIGINT, saved)
    assert caught.value.paths == targets and [t.read_text() for t in targets] == ["new", "new"]
    assert _entries(tmp_path) == ["a.nwb", "b.nwb"]


# ------------------------------------------------------------------------------------ what may be replaced

@pytest.mark.parametrize("make, overwrite, problem", [
    (lambda p, t: None, False, None),
    (lambda p, t: p.write_text("x"), True, None),
    (lambda p, t: p.write_text("x"), False, "already exists; pass --overwrite"),
    (lambda p, t: p.symlink_to("/proc/self/fd/1"), True, "is a symbolic link"),
    (lambda p, t: p.symlink_to(t / "nowhere.nwb"), True, "is a symbolic link"),
    (lambda p, t: p.mkdir(), True, "is a folder"),
    (lambda p, t: os.mkfifo(p), True, "is not a regular file"),
], ids=["nothing", "file-overwrite", "file", "link-to-stdout", "dangling-link", "folder", "fifo"])
def test_what_may_be_replaced(tmp_path, make, overwrite, problem):
    target = tmp_path / "ns1.nwb"
    make(target, tmp_path)
    if problem is None:
        assert check_replaceable(target, overwrite=overwrite) == target.exists()
    else:
        before = os.lstat(target)
        with pytest.raises(OutputError, match=problem):
            check_replaceable(target, overwrite=overwrite)
        after = os.lstat(target)  # left as it was (a folder stays an empty folder)
        assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (before.st_ino, before.st_mode, before.st_mtime_ns)


def test_a_device_is_never_replaced(tmp_path):
    device = tmp_path / "null.nwb"
    try:
        os.mknod(device, 0o020666, os.makedev(1, 3))
    except (AttributeError, OSError):
        pytest.skip("making a device node needs root")
    with pytest.raises(OutputError, match="not a regular file"):
        check_replaceable(device, overwrite=True)


@pytest.mark.parametrize("where, problem", [
    ("input", "is an input of this conversion"),
    ("hard link", "is an input of this conversion"),
    ("through a link", "is an input of this conversion"),
    ("in the folder", "lies inside"),
    ("under a linked folder", "lies inside"),
    ("beside", None),
])
def test_an_input_is_never_the_output(tmp_path, where, problem):
    raw = tmp_path / "raw"
    (raw / "spikes" / "sub").mkdir(parents=True)
    (raw / "meta.mat").write_text("m")
    (raw / "spikes" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "raw-link").symlink_to(raw)
    os.link(raw / "meta.mat", tmp_path / "copy.mat")
    output = {"input": raw / "meta.mat", "hard link": tmp_path / "copy.mat",
              "through a link": tmp_path / "raw-link" / "meta.mat", "in the folder": raw / "spikes" / "sub" / "x.nwb",
              "under a linked folder": tmp_path / "elsewhere" / "x.nwb", "beside": raw / "x.nwb"}[where]
    if problem is None:
        refuse_inputs(output, files=[raw / "meta.mat"], folders=[raw / "spikes"])
    else:
        with pytest.raises(OutputError, match=problem):
            refuse_inputs(output, files=[raw / "meta.mat"], folders=[raw / "spikes"])


# ------------------------------------------------------------------------------------------ write_nwbfile

def test_write_nwbfile_round_trip_and_disk_errors(tmp_path, monkeypatch):
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile

    nwbfile = NWBFile(session_description="d", identifier="i", session_start_time=datetime(2020, 1, 1,
                                                                                            tzinfo=timezone.utc))
    target = write.write_nwbfile(nwbfile, tmp_path / "x.nwb")
    with NWBHDF5IO(str(target), "r") as io:
        assert io.read().identifier == "i"
    real_open = open

    def full_disk(path, mode="r", *args, **kwargs):
        if "w" in mode and write.PARTIAL in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_disk)
    nwbfile = NWBFile(session_description="d", identifier="j", session_start_time=datetime(2020, 1, 1,
                                                                                            tzinfo=timezone.utc))
    with pytest.raises(OutputError, match=r"y\.nwb: writing failed \(No space left on device\); nothing was"):
        write.write_nwbfile(nwbfile, tmp_path / "y.nwb")
    assert _entries(tmp_path) == ["x.nwb"]


def _minimal_nwbfile(identifier: str):
    from datetime import datetime, timezone

    from pynwb import NWBFile

    return NWBFile(session_description="d", identifier=identifier,
                   session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc))


def test_a_long_but_legal_output_name(tmp_path):
    """A 244-character name: the lock and the temporary file get names the file system takes (was a CLI row
    of tests/test_faults.py: no 'partial' file named in an error, the output written, nothing beside it)."""
    target = tmp_path / ("a" * 240 + ".nwb")
    try:
        target.touch()
        target.unlink()
    except OSError:
        pytest.skip("this file system does not take 244-character names")
    assert write.write_nwbfile(_minimal_nwbfile("long"), target) == target
    assert _entries(tmp_path) == [target.name]


def test_a_full_disk_half_way_through_the_write(tmp_path, monkeypatch):
    """``OSError(ENOSPC)`` after part of the temporary file is on disk: one error naming the output, the
    temporary file gone (was a CLI row of tests/test_faults.py; the command line prints it, exit 2)."""
    from cliharness import ENOSPC, Spy, fault_in_nwb_write

    out = tmp_path / "ns1.nwb"
    spy = Spy(tmp_path)
    fault_in_nwb_write(monkeypatch, spy, OSError(errno.ENOSPC, ENOSPC))
    with pytest.raises(OutputError) as caught:
        write.write_nwbfile(_minimal_nwbfile("full"), out)
    assert str(out) in str(caught.value) and ENOSPC in str(caught.value) and "\n" not in str(caught.value)
    assert len(spy.seen) == 1 and write.PARTIAL in spy.seen[0]  # the fault struck with the temporary on disk
    assert _entries(tmp_path) == []


def test_inputs_under_looping_folder_links(tmp_path):
    """The folders a conversion reads may hold links that loop (``loop -> ..``, ``self -> self``): walking
    them ends, and an output beside them is taken (tests/release/test_tree.py reads such a tree)."""
    spikes = tmp_path / "raw" / "spikes"
    (spikes / "exp").mkdir(parents=True)
    (spikes / "exp" / "loop").symlink_to("..", target_is_directory=True)
    (spikes / "self").symlink_to("self")
    refuse_inputs(tmp_path / "raw" / "ns1.nwb", folders=[spikes])
    with pytest.raises(OutputError, match="lies inside"):
        refuse_inputs(spikes / "exp" / "loop" / "ns1.nwb", folders=[spikes])
