"""Building blocks of every NWB table ns1nwb writes: compressed datasets, plain and ragged columns, the
column specs of ``schemas/nwb_columns.yaml`` and the names the reader relies on."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import yaml

from ..user_metadata import schema_text

__all__ = ["STIMULI_MODULE", "STIMULI_TABLE", "PROVENANCE_MODULE", "GZIP_LEVEL", "column_specs", "compressed",
           "vector", "ragged", "column_data", "specs_of", "described"]

#: Shown in the file's notes and descriptions; the reader relies on these names.
STIMULI_MODULE = "stimuli"
STIMULI_TABLE = "stimuli"
PROVENANCE_MODULE = "provenance"

#: gzip (readable everywhere) at level 1 with shuffle: within 1 % of level 4's size here, and
#: a third faster to read back.
GZIP_LEVEL = 1


@lru_cache(maxsize=None)
def column_specs() -> dict[str, list[dict[str, Any]]]:
    """Column names, dtypes, units and descriptions of every table ns1nwb writes (``schemas/nwb_columns.yaml``,
    see :func:`ns1nwb.user_metadata.schema_text`)."""
    text = schema_text("nwb_columns.yaml")
    return yaml.safe_load(text)


def compressed(data: Any, chunks: Any = True) -> Any:
    """``data`` as a gzip + shuffle dataset with the given chunks (``True``: h5py chooses)."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    return H5DataIO(data, compression="gzip", compression_opts=GZIP_LEVEL, shuffle=True, chunks=chunks)


def vector(name: str, description: str, data: Any) -> Any:
    """A plain table column."""
    from hdmf.common import VectorData

    return VectorData(name=name, description=description, data=data)


def ragged(name: str, description: str, data: Any, ends: Any, cls: Any = None, **kwargs: Any) -> list[Any]:
    """A ragged column: its data and its ``<name>_index`` of end offsets."""
    from hdmf.common import VectorData, VectorIndex

    target = (cls or VectorData)(name=name, description=description, data=data, **kwargs)
    index = VectorIndex(name=f"{name}_index", data=np.asarray(ends, dtype=np.uint32), target=target)
    return [target, index]


def column_data(values: list[Any], dtype: str) -> Any:
    """Values as the spec's dtype: ``text`` (None -> ''), ``bool`` or a numpy dtype name."""
    if dtype == "text":
        return ["" if v is None else str(v) for v in values]
    if dtype == "bool":
        return np.asarray(values, dtype=bool)
    return np.asarray(values, dtype=np.dtype(dtype))


def described(spec: dict[str, Any]) -> str:
    """A column's description from its spec, with its unit of measurement when it has one."""
    text = spec["description"].rstrip()
    return f"{text} Unit: {spec['unit']}." if spec.get("unit") else text


def specs_of(table: str) -> dict[str, dict[str, Any]]:
    """Column name -> its spec (dtype, description, source) for one table of ``schemas/nwb_columns.yaml``."""
    return {c["name"]: c for c in column_specs()[table]}
