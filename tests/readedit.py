"""Edit converted ns1nwb files with h5py in tests: rename columns to the old or new names, add or damage columns.

Each helper works on a copy the test made (never on a session fixture itself).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import h5py
import numpy as np

#: (current name, name in files written before the 0.2 rename)
TRIAL_NEW, TRIAL_OLD = "spike_trial", "spike_trial_index"
ROW_NEW, ROW_OLD = "metadata_row", "metadata_index"


def copy(source: Path, destination: Path) -> Path:
    shutil.copy(source, destination)
    return destination


def _colnames(units: h5py.Group) -> list[str]:
    return [c.decode() if isinstance(c, bytes) else str(c) for c in units.attrs["colnames"]]


def _set_colnames(units: h5py.Group, names: list[str]) -> None:
    units.attrs["colnames"] = np.array(names, dtype=h5py.string_dtype())


def _rename_column(units: h5py.Group, old: str, new: str) -> None:
    units.move(old, new)
    _set_colnames(units, [new if c == old else c for c in _colnames(units)])


def is_new_style(path: Path) -> bool:
    with h5py.File(path, "r") as f:
        return TRIAL_NEW in f["units"]


def to_old_style(path: Path) -> Path:
    """Names as ns1nwb 0.1 wrote them: spike_trial_index (+ spike_trial_index_index), metadata_index."""
    with h5py.File(path, "r+") as f:
        units = f["units"]
        if TRIAL_NEW in units:
            units.move(TRIAL_OLD, "tmp_trial_index")  # the new-style ragged index
            _rename_column(units, TRIAL_NEW, TRIAL_OLD)
            units.move("tmp_trial_index", f"{TRIAL_OLD}_index")
        if ROW_NEW in units:
            _rename_column(units, ROW_NEW, ROW_OLD)
    return path


def to_new_style(path: Path) -> Path:
    """Names after the rename of issue 15.4: spike_trial (+ spike_trial_index), metadata_row."""
    with h5py.File(path, "r+") as f:
        units = f["units"]
        if TRIAL_NEW not in units:
            units.move(TRIAL_OLD, "tmp_trial")
            units.move(f"{TRIAL_OLD}_index", TRIAL_OLD)
            units.move("tmp_trial", TRIAL_NEW)
            _set_colnames(units, [TRIAL_NEW if c == TRIAL_OLD else c for c in _colnames(units)])
        if ROW_OLD in units:
            _rename_column(units, ROW_OLD, ROW_NEW)
    return path


def trial_column(path: Path) -> str:
    return TRIAL_NEW if is_new_style(path) else TRIAL_OLD


def row_column(f: h5py.File) -> str:
    return ROW_NEW if ROW_NEW in f["units"] else ROW_OLD


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
    with h5py.File(path, "r+") as f:
        units = f["units"]
        for name in names:
            if name in units:
                del units[name]
        _set_colnames(units, [c for c in _colnames(units) if c not in names])
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
