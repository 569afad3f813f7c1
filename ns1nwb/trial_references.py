"""The trials' template references, written with h5py once pynwb has written the rest of the file.

A speed device that earns its place (``benchmarks/README.md``): hdmf resolves object references one by
one, about a quarter of the conversion's wall time for the release's 6,000 trials with a template; here
the ~20 distinct templates are resolved once and the column is written in one step. The datasets and
attributes are those pynwb writes (a test compares the two files).
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from .nwb.trials import TrialReferences

__all__ = ["write_trial_references", "finisher"]


def _smallest_unsigned(largest: int) -> type:
    """The smallest unsigned type that holds ``largest``: hdmf's choice for an index."""
    return next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if largest <= np.iinfo(t).max)


def write_trial_references(path: Path, references: TrialReferences) -> None:
    """Add the trials' ``timeseries`` column and its index to the NWB file at ``path`` (open for writing)."""
    import h5py
    from hdmf.backends.hdf5 import HDF5IO

    with h5py.File(path, "r+") as h5file:
        trials = h5file["intervals/trials"]
        n_refs = len(references.rows)
        column_data = np.empty(n_refs, dtype=[("idx_start", "<i4"), ("count", "<i4"),
                                              ("timeseries", h5py.ref_dtype)])
        column_data["idx_start"] = [start for start, _, _ in references.rows]
        column_data["count"] = [count for _, count, _ in references.rows]
        ref_of = {target: h5file[target].ref for target in {p for _, _, p in references.rows}}
        column_data["timeseries"] = [ref_of[p] for _, _, p in references.rows]
        # Expandable, like every table column hdmf writes; hdmf lets h5py pick the chunks of a reference
        # column and picks those of other columns itself.
        column = trials.create_dataset("timeseries", data=column_data, maxshape=(None,), chunks=True)
        column.attrs.update(description=references.description, namespace="core",
                            neurodata_type="TimeSeriesReferenceVectorData", object_id=str(uuid.uuid4()))
        index_data = np.asarray(references.ends, dtype=_smallest_unsigned(n_refs))
        chunk_shape = HDF5IO.compute_default_chunk_shape(index_data.shape, index_data.dtype) \
            if hasattr(HDF5IO, "compute_default_chunk_shape") else True
        index = trials.create_dataset("timeseries_index", data=index_data, maxshape=(None,), chunks=chunk_shape)
        index.attrs.update(description="Index for VectorData 'timeseries'", namespace="hdmf-common",
                           neurodata_type="VectorIndex", object_id=str(uuid.uuid4()), target=column.ref)
        colnames = [c.decode() if isinstance(c, bytes) else str(c) for c in trials.attrs["colnames"]]
        trials.attrs["colnames"] = np.array([*colnames, "timeseries"], dtype=h5py.string_dtype())


def finisher(references: TrialReferences | None) -> Callable[[Path], None] | None:
    """What :func:`ns1nwb.write_nwbfile` calls to finish a file built with deferred references (None: nothing)."""
    return None if references is None else functools.partial(write_trial_references, references=references)
