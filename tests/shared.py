"""Test data made once per test run, however many pytest-xdist workers ask for it.

A session fixture runs once per worker: with ``-n auto`` every worker that needs the converted real release
would convert it again. :func:`made_once` makes the data in a folder under the run's temporary root (shared by
the workers of one run, and by nobody else): the first worker to ask makes it while holding a lock, the others
wait for it and reuse it. What it makes is read-only for the tests.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest


def made_once(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], Any]) -> Any:
    """``make(folder)`` run once per test run for ``name``; its (picklable) return value.

    Without xdist, a new temporary folder each time (as ``tmp_path_factory.mktemp``). Under xdist, the folder
    ``<the run's temporary root>/<name>``: made by the first worker that asks, under a file lock the others wait
    on; a worker whose ``make`` failed leaves no mark, so the next one tries again from an empty folder.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return make(factory.mktemp(name))
    from filelock import FileLock

    root = factory.getbasetemp().parent  # <run>/popen-gwN -> <run>, the workers' common root
    folder, done = root / name, root / f"{name}.made"
    with FileLock(str(root / f"{name}.lock")):
        if done.is_file():
            return pickle.loads(done.read_bytes())
        shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
        folder.mkdir()
        value = make(folder)
        done.write_bytes(pickle.dumps(value))
        return value
