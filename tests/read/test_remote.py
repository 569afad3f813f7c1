"""Issue 25 item 6: every remote read has an overall deadline and a bounded retry, with one clear error.

The loopback server (tests/localserver.py) stalls, drips one byte at a time (the body, or the whole answer
from its status line), or answers errors; ``NS1NWB_REMOTE_TIMEOUT_S`` makes the deadline short. Issue 24
item 6: a file written by ns1nwb is read in a few requests, a redirect (DANDI asset URLs) is followed once, and
a garbage collection on fsspec's IO thread does not deadlock with h5py's lock.
"""

from __future__ import annotations

import contextlib
import re
import time

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from localserver import serve_files

import ns1nwb
from ns1nwb import NetworkError, NwbContentError, SettingError
from ns1nwb.cli import cli
from ns1nwb.read.remote import DEFAULT_TIMEOUT_S, TIMEOUT_ENV, TRIES, remote_timeout_s

DEADLINE_S = 1.0  # room for the pauses between tries (0.25 s, then 0.5 s)
FAULT_DEADLINE_S = 0.5  # what a stalled or dripping server costs


@pytest.fixture()
def server(sample_nwb, monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, str(DEADLINE_S))
    with serve_files({"/data/sample.nwb": sample_nwb}) as state:
        state.url = f"{state.base_url}/data/sample.nwb"
        yield state


def _one_line_exit_2(result, name: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert name in result.stderr and "Traceback" not in result.output and "internal error" not in result.stderr


@pytest.mark.parametrize("text, expected", [
    (None, DEFAULT_TIMEOUT_S), ("", DEFAULT_TIMEOUT_S), ("1.5", 1.5), (" 30 ", 30.0), ("0.2", 0.2),
    ("0", None), ("-1", None), ("nan", None), ("inf", None), ("soon", None), ("1e400", None),
])
def test_the_deadline_setting(monkeypatch, text, expected):
    if text is None:
        monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(TIMEOUT_ENV, text)
    if expected is None:
        with pytest.raises(SettingError, match=TIMEOUT_ENV):
            remote_timeout_s()
    else:
        assert remote_timeout_s() == expected


def test_a_bad_deadline_setting_is_said_before_any_request(server, monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, "forever")
    with pytest.raises(SettingError, match=TIMEOUT_ENV):
        ns1nwb.open(server.url)
    assert not server.requests


@pytest.mark.parametrize("fault", ["stall", "drip body", "drip everything"])
@pytest.mark.parametrize("after", [0, 1])  # the size probe itself, or the reads after it
def test_a_server_that_stalls_or_drips_fails_within_the_deadline(server, monkeypatch, fault, after):
    monkeypatch.setenv(TIMEOUT_ENV, str(FAULT_DEADLINE_S))
    if fault == "stall":
        server.stall_after = after
    else:
        server.drip_after, server.drip_every_s = after, 0.1  # a byte well within any read timeout
        server.drip_headers = fault == "drip everything"
    start = time.monotonic()
    with pytest.raises(NetworkError) as caught:
        ns1nwb.open(server.url)
    spent = time.monotonic() - start
    text = str(caught.value)
    assert spent < FAULT_DEADLINE_S + 1.5, spent
    assert text.startswith(server.url) and re.search(r"no answer.* within 0\.\d s", text), text
    assert TIMEOUT_ENV in text and "\n" not in text


def test_the_cli_says_it_in_one_line(server, monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, str(FAULT_DEADLINE_S))
    server.stall_after = 1
    start = time.monotonic()
    _one_line_exit_2(CliRunner().invoke(cli, ["info", server.url]), server.url)
    assert time.monotonic() - start < DEADLINE_S + 2


def _byte_ranges(dataset) -> list[tuple[int, int]]:
    """[start, stop) of each piece of ``dataset`` (an h5py dataset) in its file."""
    dsid = dataset.id
    if dataset.chunks is None:
        return [(dsid.get_offset(), dsid.get_offset() + dsid.get_storage_size())]
    pieces = (dsid.get_chunk_info(i) for i in range(dsid.get_num_chunks()))
    return [(piece.byte_offset, piece.byte_offset + piece.size) for piece in pieces]


def _fetched_ranges(server) -> list[tuple[int, int]]:
    """[start, stop) of every range the server was asked for so far."""
    ranges = []
    for _, _, header in server.requests:
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", header or "")
        if match:
            ranges.append((int(match.group(1)), int(match.group(2)) + 1))
    return ranges


def _a_waveform_not_fetched(rec, path, server) -> int:
    """A stimulus whose waveform samples lie outside every range asked for so far: reading it needs a request
    (the open's first request and windows bring much of a small file with them)."""
    fetched = _fetched_ranges(server)
    with h5py.File(path, "r") as f:
        for stimulus, name in enumerate(rec.stimuli["waveform_series"]):
            if name and all(stop <= first or last <= start
                            for start, stop in _byte_ranges(f[f"stimulus/templates/{name}/data"])
                            for first, last in fetched):
                return stimulus
    pytest.fail(f"the open fetched every waveform of {path.name} ({fetched}): no read is left to inject a fault in")


def test_a_read_after_the_open_fails_within_the_deadline(server, sample_nwb, monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, str(FAULT_DEADLINE_S))
    with ns1nwb.open(server.url) as rec:
        stimulus = _a_waveform_not_fetched(rec, sample_nwb, server)
        server.stall_after = opened = len(server.requests)  # from now on, nothing answers
        start = time.monotonic()
        with pytest.raises(NetworkError, match="no answer") as caught:
            rec.waveform(stimulus)
        assert time.monotonic() - start < FAULT_DEADLINE_S + 1.5
        assert str(caught.value).startswith(server.url) and len(server.requests) > opened
        server.stall_after = None  # the server is back: the recording still reads, that sound too
        with ns1nwb.open(sample_nwb) as local:
            np.testing.assert_array_equal(rec.waveform(stimulus), local.waveform(stimulus))


@pytest.mark.parametrize("statuses", [[500], [503, 502], [429, 504]])
def test_passing_server_errors_are_tried_again(server, sample_nwb, statuses):
    server.fail_next = list(statuses)  # the size probe meets them first
    with ns1nwb.open(server.url) as remote, ns1nwb.open(sample_nwb) as local:
        assert not server.fail_next and server.requests[len(statuses)][2] == server.requests[0][2]
        np.testing.assert_array_equal(remote.response_grid(units=[3], stimuli=[2]),
                                      local.response_grid(units=[3], stimuli=[2]))
        stimulus = _a_waveform_not_fetched(remote, sample_nwb, server)
        server.fail_next, before = [500], len(server.requests)  # and one read later on
        np.testing.assert_array_equal(remote.waveform(stimulus), local.waveform(stimulus))
        assert not server.fail_next and len(server.requests) >= before + 2  # the 500, then its answer


def test_the_retries_are_bounded(server):
    server.fail_next = [500] * (TRIES + 5)
    start = time.monotonic()
    with pytest.raises(NetworkError, match=f"{TRIES} tries; last: HTTP 500") as caught:
        ns1nwb.open(server.url)
    assert time.monotonic() - start < DEADLINE_S + 0.5  # the pauses between tries stay within the deadline
    assert len(server.requests) == TRIES and str(caught.value).startswith(server.url)


@pytest.mark.parametrize("status", [404, 403, 410])
def test_a_missing_file_is_not_tried_again(server, status):
    server.fail_next = [status]
    with pytest.raises(NetworkError, match=f"HTTP {status}"):
        ns1nwb.open(server.url)
    assert len(server.requests) == 1


def test_a_network_error_is_a_content_error_for_callers_that_catch_that(server):
    server.fail_next = [404]
    with pytest.raises(NwbContentError):
        ns1nwb.open(server.url)


# --------------------------------------------------------------------------- the file (issue 24)


@pytest.fixture()
def random_files(tmp_path):
    """Files of random bytes around the block size, served: (server, {url path: bytes})."""
    from ns1nwb.read.remote import BLOCK_BYTES

    rng = np.random.default_rng(5)
    contents = {f"/f{size}.bin": rng.integers(0, 256, size, dtype=np.uint8).tobytes()
                for size in (1, 100, BLOCK_BYTES, BLOCK_BYTES + 1, 3 * BLOCK_BYTES + 5)}
    for name, data in contents.items():
        (tmp_path / name[1:]).write_bytes(data)
    with serve_files({name: tmp_path / name[1:] for name in contents}) as state:
        yield state, contents


def _ranges_asked(server, since: int = 0) -> list[tuple[int, int]]:
    return [(int(a), int(b) + 1) for _, _, header in server.requests[since:]
            for a, b in [header[6:].split("-")]]


def test_the_file_gives_the_files_bytes(random_files):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ns1nwb.read.remote import BLOCK_BYTES, _open_file

    server, contents = random_files

    @settings(max_examples=40, deadline=None)
    @given(name=st.sampled_from(sorted(contents)),
           reads=st.lists(st.tuples(st.none() | st.integers(0, 3 * BLOCK_BYTES + 10),  # None: go on (a scan)
                                    st.integers(0, 200_000) | st.integers(0, 2 * BLOCK_BYTES + 3)),
                          min_size=1, max_size=8))
    def check(name, reads):
        data, first = contents[name], len(server.requests)
        file, connections = _open_file(server.base_url + name, 5.0)
        try:
            for offset, n in reads:
                offset = file.tell() if offset is None else offset
                assert file.seek(offset) == offset
                assert file.read(n) == data[offset:offset + n]
                assert file.tell() == offset + len(data[offset:offset + n])
        finally:
            file.close()
            connections.close()
        asked = _ranges_asked(server, first)  # every request a range (none for the whole file) within it
        assert all(0 <= a < len(data) and a < b for a, b in asked), asked

    check()


def test_the_first_block_comes_with_the_size_and_each_block_once(random_files):
    from ns1nwb.read.remote import BLOCK_BYTES, _open_file

    server, contents = random_files
    name = f"/f{3 * BLOCK_BYTES + 5}.bin"
    file, connections = _open_file(server.base_url + name, 5.0)
    with contextlib.closing(connections), file:
        assert _ranges_asked(server) == [(0, BLOCK_BYTES)]
        file.seek(100)
        assert file.read(4096) == contents[name][100:4196]  # the first block came with the size
        assert len(server.requests) == 1
        for _ in range(2):  # across two blocks, then again: each block is asked for once
            file.seek(2 * BLOCK_BYTES - 10)
            assert file.read(20) == contents[name][2 * BLOCK_BYTES - 10:2 * BLOCK_BYTES + 10]
        assert sorted(_ranges_asked(server)[1:]) == [(BLOCK_BYTES, 2 * BLOCK_BYTES), (2 * BLOCK_BYTES, 3 * BLOCK_BYTES)]


# --------------------------------------------------------------------------- redirects (DANDI asset URLs)

DOWNLOAD_PATH = "/api/assets/0a1b/download/"


@pytest.fixture()
def redirected(server):
    """``server`` with a DANDI-like asset URL that redirects to the file (as the API to S3)."""
    server.redirects[DOWNLOAD_PATH] = server.url
    server.asset_url = server.base_url + DOWNLOAD_PATH
    return server


def test_a_redirect_is_followed_once(redirected, sample_nwb):
    with ns1nwb.open(redirected.asset_url) as remote, ns1nwb.open(sample_nwb) as local:
        stimulus = _a_waveform_not_fetched(remote, sample_nwb, redirected)
        np.testing.assert_array_equal(remote.waveform(stimulus), local.waveform(stimulus))
        np.testing.assert_array_equal(remote.response_grid(units=[1]), local.response_grid(units=[1]))
    paths = [path for _, path, _ in redirected.requests]
    assert paths[0] == DOWNLOAD_PATH and len(paths) > 2, paths
    assert paths.count(DOWNLOAD_PATH) == 1, paths  # the following requests go straight to the target


def test_an_expired_target_sends_the_requests_back_to_the_url_given_once(redirected, sample_nwb):
    with ns1nwb.open(redirected.asset_url) as remote, ns1nwb.open(sample_nwb) as local:
        first = _a_waveform_not_fetched(remote, sample_nwb, redirected)
        redirected.fail_next, before = [403], len(redirected.requests)  # the presigned URL expired
        np.testing.assert_array_equal(remote.waveform(first), local.waveform(first))
        paths = [path for _, path, _ in redirected.requests[before:]]
        assert paths[:3] == ["/data/sample.nwb", DOWNLOAD_PATH, "/data/sample.nwb"], paths  # 403, back, redirected
        second = _a_waveform_not_fetched(remote, sample_nwb, redirected)
        redirected.fail_next = [403]  # once only: a 403 from the URL given is the answer
        with pytest.raises(NetworkError, match="HTTP 403") as caught:
            remote.waveform(second)
        assert str(caught.value).startswith(redirected.asset_url) and "\n" not in str(caught.value)
        assert redirected.requests[-1][1] == DOWNLOAD_PATH


# --------------------------------------------------------------------------- h5py's lock and fsspec's thread

GC_ON_THE_IO_THREAD = """
import sys

import aiohttp
import h5py

import ns1nwb

path, url = sys.argv[1:]
datasets = []
get = aiohttp.ClientSession.get


def get_making_garbage(self, *args, **kwargs):
    # On fsspec's IO thread, while the reading thread holds h5py's lock: the last reference to an h5py object
    # goes into a new reference cycle, and enough allocations follow for an automatic collection.
    if datasets:
        cycle = {"h5py object": datasets.pop()}
        cycle["itself"] = cycle
        del cycle
        junk = [[] for _ in range(5000)]
    return get(self, *args, **kwargs)


aiohttp.ClientSession.get = get_making_garbage
with h5py.File(path, "r") as local, ns1nwb.open(url) as rec:
    for stimulus in range(len(rec.stimuli)):
        if rec.stimuli["waveform_series"][stimulus]:
            datasets.append(local["units/id"])
            rec.waveform(stimulus)
print("read")
"""


def test_a_collection_on_fsspecs_thread_does_not_deadlock(server, sample_nwb):
    """h5py's lock is held while a read waits for fsspec's IO thread: a collection there that frees an h5py
    object would wait for it forever (h5py docs, "Python file-like objects"). In a child process: a deadlock
    cannot be undone."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", GC_ON_THE_IO_THREAD, str(sample_nwb), server.url],
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("deadlocked: a collection on fsspec's IO thread waited for h5py's lock")
    assert done.returncode == 0 and done.stdout.strip() == "read", done.stderr[-2000:]
    assert len(server.requests) > 2  # the waveforms needed requests


def test_one_units_grid_over_a_url_takes_few_requests(server, sample_nwb):
    with ns1nwb.open(server.url) as rec:
        opened = len(server.requests)
        rec.response_grid(units=[3])
    # The first request brings the size and the whole metadata block (bare h5py + remfile: 10 or more).
    assert opened <= 4 and len(server.requests) <= 5, server.requests
