"""Streamable layout (issue 22, item B): units/obs_intervals is chunked and compressed like spike_times, so a
client reading one unit's intervals over HTTP fetches one small chunk, not the whole table."""

from __future__ import annotations

import h5py
import numpy as np

from ns1nwb.nwb.columns import GZIP_LEVEL
from ns1nwb.nwb.units import OBS_CHUNK_ROWS


def test_obs_intervals_is_chunked_and_compressed(sample_nwb):
    with h5py.File(sample_nwb, "r") as f:
        units = f["units"]
        obs, spikes = units["obs_intervals"], units["spike_times"]
        assert obs.compression == spikes.compression == "gzip"
        assert obs.compression_opts == GZIP_LEVEL and obs.shuffle
        assert obs.chunks == (min(obs.shape[0], OBS_CHUNK_ROWS), 2)
        # Same values as before: each unit's intervals are trials' [start_time, stop_time].
        trials = np.stack([f["intervals/trials/start_time"][:], f["intervals/trials/stop_time"][:]], axis=1)
        values = obs[:]
        assert values.shape[1] == 2 and len(values) == units["obs_intervals_index"][-1]
        assert (values[:, 1] > values[:, 0]).all()
        assert {tuple(row) for row in values} <= {tuple(row) for row in trials}


def test_the_metadata_is_in_one_block_at_the_start(sample_nwb):
    """Issue 24: every group's and dataset's header lies in the first metadata block (HDF5's default, 2 kB
    blocks, scatters them through the file), so that a reader over HTTP gets them with its first request."""
    from ns1nwb.write import METADATA_BLOCK_BYTES

    addresses = []
    with h5py.File(sample_nwb, "r") as f:
        f.visititems(lambda name, obj: addresses.append(h5py.h5o.get_info(obj.id).addr))
    assert len(addresses) > 100 and max(addresses) < METADATA_BLOCK_BYTES
