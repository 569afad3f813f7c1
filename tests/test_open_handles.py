"""The conftest fixture that fails a test leaving a file handle open (issue 12): it does fail such tests.

The leaky tests run in a child pytest (their handles must not leak into this process), with this
folder's conftest.py.
"""

from __future__ import annotations

from pathlib import Path

LEAKY_TESTS = '''
import gc

import h5py
import pytest

KEPT = []


@pytest.fixture(scope="module")
def module_file(tmp_path_factory):
    with h5py.File(tmp_path_factory.mktemp("m") / "module.h5", "w") as f:
        yield f


def test_keeps_an_h5py_file_open(tmp_path):
    KEPT.append(h5py.File(tmp_path / "kept.h5", "w"))


def test_drops_an_open_hdmf_io_in_a_cycle(tmp_path):
    from hdmf.backends.hdf5 import HDF5IO

    h5py.File(tmp_path / "io.h5", "w").close()
    io = HDF5IO(str(tmp_path / "io.h5"), mode="r")
    io.myself = io  # garbage only the collector frees


def test_keeps_an_fsspec_file_open():
    import fsspec
    from fsspec.spec import AbstractBufferedFile

    class Remote(AbstractBufferedFile):
        def _fetch_range(self, start, end):
            return b""

    KEPT.append(Remote(fsspec.filesystem("memory"), "/remote.bin", mode="rb", size=0))


def test_closes_what_it_opens(tmp_path, module_file):
    from hdmf.backends.hdf5 import HDF5IO

    with h5py.File(tmp_path / "closed.h5", "w"):
        pass
    with HDF5IO(str(tmp_path / "closed.h5"), mode="r"):
        pass
    assert module_file  # a module fixture's open file is not this test's
'''


def test_a_test_that_leaves_a_handle_open_errors(pytester):
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile(shared=Path(__file__).with_name("shared.py").read_text())  # conftest.py imports it
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=3)
    result.stdout.fnmatch_lines_random([
        "*ERROR at teardown of test_keeps_an_h5py_file_open*",
        "*h5py.File '*kept.h5'*",
        "*ERROR at teardown of test_drops_an_open_hdmf_io_in_a_cycle*",
        "*hdmf.backends.hdf5.h5tools.HDF5IO (source '*io.h5')*",
        "*ResourceWarning: HDF5IO was not closed before being garbage collected*",
        "*ERROR at teardown of test_keeps_an_fsspec_file_open*",
        "*Remote '/remote.bin'*",
    ])
    assert "test_closes_what_it_opens" not in "\n".join(l for l in result.outlines if "ERROR" in l)
