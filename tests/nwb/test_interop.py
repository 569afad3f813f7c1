"""Other clients read ns1nwb files: neo's NWBIO, pynapple, SpikeInterface, pynwb streaming over HTTP.

Each test skips (with the package named) only when the optional client is not installed.
Remote reads go to a local HTTP server on 127.0.0.1 with Range support, never the network.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import warnings
from typing import Iterator

import h5py
import numpy as np
import pytest
from localserver import serve_files  # the Range-capable local server (tests/ is on sys.path)

import ns1nwb
from ns1nwb.exceptions import MissingDependencyError

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


def test_neo_nwbio_cannot_yet_read_several_observation_intervals(sample_nwb):
    """Each unit's obs_intervals are its recorded sweeps (one per presentation, as NWB asks for trialized
    data), and neo's NWBIO (0.14) does not read a unit with more than one yet: it says so. Before that it
    stops at the file's keywords (NeuralEnsemble/python-neo#1413). The README says so too and points to
    ``rec.to_neo()``; when neo learns both, this test fails and the README changes."""
    pytest.importorskip("neo", reason="neo is not installed (pip install '.[neo]')")
    with pytest.raises((NotImplementedError, ValueError),
                       match="multiple observation intervals|Invalid annotation"):
        _neo_block(sample_nwb)


def test_ns1nwb_to_neo_gives_the_file_spikes(sample_nwb):
    """The way to Neo: ``rec.to_neo()``, one Segment per presentation, every spike of the unit."""
    pytest.importorskip("neo", reason="neo is not installed (pip install '.[neo]')")
    with ns1nwb.open(sample_nwb) as rec:
        block = rec.to_neo(unit=0)
    trains = [st for segment in block.segments for st in segment.spiketrains]
    assert sum(len(st) for st in trains) == _n_spikes(sample_nwb)[0]


def test_to_neo_without_neo_says_what_to_install(sample_nwb, monkeypatch):
    """As ``plot`` without matplotlib: one line with the install command, not a ModuleNotFoundError."""
    monkeypatch.setitem(sys.modules, "neo", None)  # `import neo` raises ImportError
    with ns1nwb.open(sample_nwb) as rec, pytest.raises(MissingDependencyError) as caught:
        rec.to_neo(unit=0)
    message = str(caught.value)
    assert "\n" not in message and "pip install neo" in message and "pip install '.[neo]'" in message


# --------------------------------------------------------------------------- pynapple


@contextlib.contextmanager
def _pynapple_file(nap, path) -> Iterator[object]:
    """pynapple's view of ``path`` (it keeps the file open for lazy reads), closed when the block ends."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = nap.load_file(str(path))
    try:
        yield data
    finally:
        data.close()


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def test_pynapple_reads_every_unit_spike_and_trial(sample_nwb):
    """Units as a TsGroup with the unit columns as metadata, every spike; trials as an IntervalSet, every
    presentation with its columns."""
    nap = pytest.importorskip("pynapple", reason="pynapple is not installed (pip install pynapple)")
    with h5py.File(sample_nwb, "r") as f:
        ends = f["units/spike_times_index"][:]
        spikes = np.split(f["units/spike_times"][:], ends[:-1])
        names = _text(f["units/unit_name"][:])
        subjects = _text(f["units/subject_id"][:])
        starts, stops = f["intervals/trials/start_time"][:], f["intervals/trials/stop_time"][:]
        stimulus_names = _text(f["intervals/trials/stimulus_name"][:])
    with _pynapple_file(nap, sample_nwb) as data:
        units, trials = data["units"], data["trials"]
        assert isinstance(units, nap.TsGroup) and isinstance(trials, nap.IntervalSet)
        assert len(units) == len(spikes) == 8
        for unit, expected in zip(units.values(), spikes):
            np.testing.assert_array_equal(unit.index.values, expected)  # every spike, to the bit
        metadata = units.metadata
        assert list(metadata["unit_name"]) == names and list(metadata["subject_id"]) == subjects
        for column in ("session_id", "depth_um", "noise_ratio", "single_unit_label", "cluster_quality",
                       "noise_ratio_computed", "spike_file", "metadata_row"):
            assert column in metadata.columns, column
        # pynapple 0.11 keeps only number and text columns: the README says so; when it keeps booleans, this fails.
        assert not {"is_good", "in_metadata"} & set(metadata.columns)
        assert len(trials) == starts.size == 1380
        np.testing.assert_array_equal(trials.start, starts)
        np.testing.assert_array_equal(trials.end, stops)
        assert list(trials.metadata["stimulus_name"]) == stimulus_names


# --------------------------------------------------------------------------- SpikeInterface


@contextlib.contextmanager
def _nwb_sorting(extractors, path) -> Iterator[object]:
    """SpikeInterface's sorting of ``path``; its h5py file is closed when the block ends.

    The extractor keeps the file open for the sorting's lifetime, and its reader's ``close()`` (also run
    by ``__del__``) only drops the references it took itself: the file stays open until the collector
    frees the sorting. So the file is closed here, and the reader told so (its close would fail on it).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The units table has no electrical series to take a rate from: give the acquisition clock.
        sorting = extractors.read_nwb_sorting(str(path), sampling_frequency=SPIKE_CLOCK_HZ)
    try:
        yield sorting
    finally:
        reader = getattr(sorting, "_reader", None)  # no public close (spikeinterface 0.105)
        handle = getattr(reader, "file", None)
        if handle is not None:
            handle.close()
            reader.file = None


def test_spikeinterface_reads_the_units(sample_nwb):
    extractors = pytest.importorskip("spikeinterface.extractors",
                                     reason="spikeinterface is not installed (pip install spikeinterface)")
    with _nwb_sorting(extractors, sample_nwb) as sorting:
        assert sorting.get_num_units() == 8 and sorting.get_num_segments() == 1
        unit_ids = [str(u) for u in sorting.get_unit_ids()]
        counts = [len(sorting.get_unit_spike_train(unit_id)) for unit_id in sorting.get_unit_ids()]
        keys = sorting.get_property_keys()
    assert unit_ids == _unit_names(sample_nwb)
    assert counts == _n_spikes(sample_nwb)
    assert "is_good" in keys and "subject_id" in keys


def test_spikeinterface_saves_once_electrode_group_is_dropped(sample_nwb, tmp_path):
    """``electrode_group`` arrives as HDF5 references, which ``sorting.save()`` cannot store; the README's
    workaround, deleting that property, saves every unit and spike. When SpikeInterface learns to save it,
    the first check fails and the README changes."""
    extractors = pytest.importorskip("spikeinterface.extractors",
                                     reason="spikeinterface is not installed (pip install spikeinterface)")
    with _nwb_sorting(extractors, sample_nwb) as sorting, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError, match="__reduce__"):
            sorting.save(folder=tmp_path / "as_read")
        sorting.delete_property("electrode_group")
        saved = sorting.save(folder=tmp_path / "saved")
        counts = [len(saved.get_unit_spike_train(unit_id)) for unit_id in saved.get_unit_ids()]
        assert [str(u) for u in saved.get_unit_ids()] == _unit_names(sample_nwb)
        assert "subject_id" in saved.get_property_keys()
    assert counts == _n_spikes(sample_nwb)


@pytest.fixture(scope="module")
def all_clusters_dandi(cluster_dandi):
    """``--dandi --all-clusters`` of 2 metadata units plus clusters in their blocks and one recorded later in a
    folder of its own: that block's file has no electrodes table (its only unit has no known site)."""
    return sorted(cluster_dandi.rglob("*.nwb"))


def test_spikeinterface_reads_every_all_clusters_session_file(all_clusters_dandi):
    """Files with and without an electrodes table read alike: every unit, every spike."""
    extractors = pytest.importorskip("spikeinterface.extractors",
                                     reason="spikeinterface is not installed (pip install spikeinterface)")
    with_table = []
    for path in all_clusters_dandi:
        with h5py.File(path, "r") as f:
            with_table.append("general/extracellular_ephys/electrodes" in f)
        with _nwb_sorting(extractors, path) as sorting:
            counts = [len(sorting.get_unit_spike_train(unit_id)) for unit_id in sorting.get_unit_ids()]
        assert counts == _n_spikes(path), path.name
    assert True in with_table and False in with_table


# --------------------------------------------------------------------------- streaming over HTTP


@contextlib.contextmanager
def _no_collection_off_the_main_thread() -> Iterator[None]:
    """No cyclic garbage collection in the block; one collection at its end, on this thread.

    h5py reads through fsspec holding h5py's global lock while it waits for fsspec's IO thread; a
    collection the IO thread starts that finalises any h5py object (every h5py id takes that lock
    to release itself) or an hdmf io would wait for the lock forever: the hang of issue 12. Objects
    freed by reference counting are freed as usual.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


@contextlib.contextmanager
def _http_filesystem(fsspec) -> Iterator[object]:
    """fsspec's HTTP filesystem on an event loop of its own, whose thread ends with the block.

    fsspec's shared loop runs in a thread ("fsspecIO") that lives as long as the process, and ns1nwb
    does not fork its writer in a process with other threads: the forked-writer tests that came later
    in the same xdist worker then failed.
    """
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-fsspecIO", daemon=True)
    thread.start()
    try:
        http = fsspec.filesystem("http", loop=loop, skip_instance_cache=True)
        try:
            yield http
        finally:
            if getattr(http, "_session", None) is not None:
                http.close_session(loop, http._session)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()


@pytest.fixture()
def served_nwb(sample_nwb):
    with serve_files({"/data/sample.nwb": sample_nwb}) as server:
        server.url = f"{server.base_url}/data/sample.nwb"
        yield server


def test_pynwb_streams_the_file_over_http(served_nwb, sample_nwb):
    pynwb = pytest.importorskip("pynwb")
    fsspec = pytest.importorskip("fsspec", reason="fsspec is not installed (pip install '.[remote]')")
    pytest.importorskip("aiohttp", reason="aiohttp (fsspec's HTTP backend) is not installed")
    # pynwb.read_nwb(url) works too, but its fsspec default (5-MB read-ahead) re-fetches ~1 GB for this
    # 24-MB file; a block cache is what pynwb's streaming tutorial recommends, and 3x faster here.
    with _no_collection_off_the_main_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _http_filesystem(fsspec) as http, \
                http.open(served_nwb.url, "rb", cache_type="blockcache", block_size=1 << 20) as remote, \
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
    with ns1nwb.open(sample_nwb) as local, ns1nwb.open(served_nwb.url) as remote:
        name = local.units.unit_name[3]
        np.testing.assert_array_equal(remote.response_grid(units=[name]), local.response_grid(units=[name]))
        np.testing.assert_array_equal(remote.trial_spike_times_ms(3, 4, 2), local.trial_spike_times_ms(3, 4, 2))
        assert remote.units.equals(local.units)
    whole = [r for r in served_nwb.requests if r[0] == "GET" and not r[2]]
    assert not whole  # the size comes with the first range; every request is a range

    from ns1nwb.info import summarize

    info = summarize(served_nwb.url)  # the inspector is not run on a URL
    assert info.n_units == 8 and info.file_size_bytes is None and "not run on a URL" in info.report()
