"""Other clients read ns1nwb files: neo's NWBIO, SpikeInterface, pynwb streaming over HTTP.

Each test skips (with the package named) only when the optional client is not installed.
Remote reads go to a local HTTP server on 127.0.0.1 with Range support, never the network.
"""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
from test_download import serve_files  # the Range-capable local server (tests/ is on sys.path)

import ns1nwb

SPIKE_CLOCK_HZ = 24414.0625


def _n_spikes(path) -> list[int]:
    with ns1nwb.open(path) as rec:
        return [int(n) for n in rec.units.n_spikes]


def _unit_names(path) -> list[str]:
    with ns1nwb.open(path) as rec:
        return [str(n) for n in rec.units.unit_name]


# --------------------------------------------------------------------------- neo


def _neo_block(path, lazy=False):
    from neo.io import NWBIO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb/hdmf namespace and deprecation chatter
        reader = NWBIO(str(path), mode="r")
        try:
            return reader.read_block(lazy=lazy)
        finally:
            if reader._io_nwb is not None:
                reader._io_nwb.close()


def test_neo_nwbio_gives_one_spiketrain_per_unit(sample_nwb):
    """neo's NWBIO reads the file as written, one spike train per unit with the file's spikes.

    ns1nwb writes no ``keywords`` by default because of a neo bug: NWBIO passes
    NWBFile.keywords (a lazy hdmf StrDataset) to a neo annotation and rejects it
    (cf. NeuralEnsemble/python-neo#1413).
    """
    pytest.importorskip("neo", reason="neo is not installed (pip install 'ns1nwb[neo]')")
    block = _neo_block(sample_nwb)
    trains = [st for segment in block.segments for st in segment.spiketrains]
    assert [len(st) for st in trains] == _n_spikes(sample_nwb)
    with h5py.File(sample_nwb, "r") as f:  # the file's own spike times of unit 0, in seconds
        times = f["units/spike_times"][: f["units/spike_times_index"][0]]
    np.testing.assert_allclose(np.sort(trains[0].rescale("s").magnitude), np.sort(times), rtol=0, atol=1e-9)
    assert block.annotations["session_id"] == "NS1-pooled"


# --------------------------------------------------------------------------- SpikeInterface


def test_spikeinterface_reads_the_units(sample_nwb):
    extractors = pytest.importorskip("spikeinterface.extractors",
                                     reason="spikeinterface is not installed (pip install spikeinterface)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The units table has no electrical series to take a rate from: give the acquisition clock.
        sorting = extractors.read_nwb_sorting(str(sample_nwb), sampling_frequency=SPIKE_CLOCK_HZ)
    assert sorting.get_num_units() == 8 and sorting.get_num_segments() == 1
    assert [str(u) for u in sorting.get_unit_ids()] == _unit_names(sample_nwb)
    counts = [len(sorting.get_unit_spike_train(unit_id)) for unit_id in sorting.get_unit_ids()]
    assert counts == _n_spikes(sample_nwb)
    assert "is_good" in sorting.get_property_keys() and "subject_id" in sorting.get_property_keys()


# --------------------------------------------------------------------------- streaming over HTTP


@pytest.fixture()
def served_nwb(sample_nwb):
    with serve_files({"/data/sample.nwb": sample_nwb}) as server:
        server.url = f"{server.base_url}/data/sample.nwb"
        yield server


def test_pynwb_streams_the_file_over_http(served_nwb, sample_nwb):
    pynwb = pytest.importorskip("pynwb")
    fsspec = pytest.importorskip("fsspec", reason="fsspec is not installed (pip install 'ns1nwb[remote]')")
    pytest.importorskip("aiohttp", reason="aiohttp (fsspec's HTTP backend) is not installed")
    # pynwb.read_nwb(url) works too, but its fsspec default (5-MB read-ahead) re-fetches ~1 GB for this
    # 24-MB file; a block cache is what pynwb's streaming tutorial recommends, and 3x faster here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        http = fsspec.filesystem("http")
        with http.open(served_nwb.url, "rb", cache_type="blockcache", block_size=1 << 20) as remote, \
                h5py.File(remote, "r") as h5, pynwb.NWBHDF5IO(file=h5, load_namespaces=True) as io:
            nwbfile = io.read()
            units = nwbfile.units
            assert len(units) == 8
            counts = [len(units.get_unit_spike_times(i)) for i in range(len(units))]
            assert counts == _n_spikes(sample_nwb)
            assert len(nwbfile.trials) == 1380
    gets = [r for r in served_nwb.requests if r[0] == "GET"]
    assert gets and all(r[2] for r in gets), "the file should be read with Range requests only"


def test_ns1nwb_open_url_gives_the_local_grid(served_nwb, sample_nwb):
    pytest.importorskip("remfile", reason="remfile is not installed (pip install 'ns1nwb[remote]')")
    pytest.importorskip("requests", reason="requests is not installed (pip install 'ns1nwb[remote]')")
    with ns1nwb.open(sample_nwb) as local, ns1nwb.open(served_nwb.url) as remote:
        name = local.units.unit_name[3]
        np.testing.assert_array_equal(remote.response_grid(units=[name]), local.response_grid(units=[name]))
        np.testing.assert_array_equal(remote.trial_spike_times_ms(3, 4, 2), local.trial_spike_times_ms(3, 4, 2))
        assert remote.units.equals(local.units)
    whole = [r for r in served_nwb.requests if r[0] == "GET" and not r[2]]
    assert len(whole) <= 1  # remfile's size probe (a streamed GET it closes); the data come by byte ranges

    from ns1nwb.info import summarize

    info = summarize(served_nwb.url)  # the inspector is not run on a URL
    assert info.n_units == 8 and info.file_size_bytes is None and "not run on a URL" in info.report()
