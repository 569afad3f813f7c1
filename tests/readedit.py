"""Edit converted ns1nwb files with h5py in tests: add, remove or damage columns.

Each helper works on a copy the test made (never on a session fixture itself).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import h5py
import numpy as np


def copy(source: Path, destination: Path) -> Path:
    shutil.copy(source, destination)
    return destination


def _colnames(units: h5py.Group) -> list[str]:
    return [c.decode() if isinstance(c, bytes) else str(c) for c in units.attrs["colnames"]]


def _set_colnames(units: h5py.Group, names: list[str]) -> None:
    units.attrs["colnames"] = np.array(names, dtype=h5py.string_dtype())


def add_unit_column(path: Path, name: str, values: np.ndarray, description: str = "test column") -> Path:
    """A per-unit VectorData column, as hdmf writes one (listed in colnames)."""
    with h5py.File(path, "r+") as f:
        units = f["units"]
        if name in units:
            del units[name]
        else:
            _set_colnames(units, _colnames(units) + [name])
        data = units.create_dataset(name, data=values)
        data.attrs.update({"description": description, "namespace": "hdmf-common", "neurodata_type": "VectorData",
                           "object_id": str(uuid.uuid4())})
    return path


def remove_unit_columns(path: Path, *names: str) -> Path:
    """Delete per-unit columns (as a file written before they existed)."""
    return remove_columns(path, "units", *names)


def remove_columns(path: Path, table: str, *names: str) -> Path:
    """Delete columns of the table at ``table`` (``units``, ``processing/stimuli/stimuli``...)."""
    with h5py.File(path, "r+") as f:
        group = f[table]
        for name in names:
            if name in group:
                del group[name]
        _set_colnames(group, [c for c in _colnames(group) if c not in names])
    return path


def replace_dataset(path: Path, location: str, values: np.ndarray) -> Path:
    """Replace a dataset with ``values`` (keeping its attributes): a damaged column."""
    with h5py.File(path, "r+") as f:
        attrs = dict(f[location].attrs)
        del f[location]
        f.create_dataset(location, data=values)
        for key, value in attrs.items():
            if not isinstance(value, h5py.Reference):
                f[location].attrs[key] = value
    return path
