"""Issue 25 item 6: every remote read has an overall deadline and a bounded retry, with one clear error.

The loopback server (tests/localserver.py) stalls, drips one byte at a time (the body, or the whole answer
from its status line), or answers errors; ``NS1NWB_REMOTE_TIMEOUT_S`` makes the deadline short. Issue 24
item 6: a file written by ns1nwb is read in pages, in a few requests.
"""

from __future__ import annotations

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


# --------------------------------------------------------------------------- the range reader (issue 24)


class _FakeSession:
    """Answers range requests from bytes in memory, and records them."""

    def __init__(self, data: bytes):
        self.data, self.asked = data, []

    def get(self, url, headers):
        first, last = (int(x) for x in headers["Range"][6:].split("-"))
        self.asked.append((first, last + 1))
        return _FakeResponse(self.data[first:last + 1])


class _FakeResponse:
    status_code, reason = 206, "Partial Content"

    def __init__(self, content: bytes):
        self.content = content

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


@pytest.mark.parametrize("size", [1, 100, 32 * 1024, 2_500_000])
def test_the_range_reader_gives_the_files_bytes(size):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ns1nwb.read.remote import HEAD_BYTES, _RemoteFile

    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()

    @settings(max_examples=60, deadline=None)
    @given(reads=st.lists(st.tuples(st.integers(0, size + 10), st.integers(-1, 300_000)), min_size=1, max_size=8))
    def check(reads):
        session = _FakeSession(data)
        file = _RemoteFile("http://x/f.nwb", size, session, data[:HEAD_BYTES])
        for offset, n in reads:
            assert file.seek(offset) == offset
            expected = data[offset:] if n < 0 else data[offset:offset + n]
            assert file.read(n) == expected
            assert file.tell() == offset + len(expected)
        assert all(0 <= first < last <= size for first, last in session.asked)

    check()


def test_small_reads_bring_their_neighbours_and_large_ones_only_their_bytes():
    from ns1nwb.read.remote import BLOCK_BYTES, HEAD_BYTES, SMALL_READ_BYTES, WINDOW_BYTES, _RemoteFile

    size = 40 << 20
    data = bytes(size)
    session = _FakeSession(data)
    file = _RemoteFile("http://x/f.nwb", size, session, data[:HEAD_BYTES])
    file.seek(100)
    file.read(4096)  # the metadata block came with the first request
    assert session.asked == []
    small = 18 * WINDOW_BYTES + 12345
    file.seek(small)
    file.read(SMALL_READ_BYTES - 1)  # a table's column: its window comes along
    assert session.asked == [(18 * WINDOW_BYTES, 19 * WINDOW_BYTES)]
    file.seek(small + WINDOW_BYTES // 2)
    file.read(1000)  # a neighbour: no request
    assert len(session.asked) == 1
    large = 10 * WINDOW_BYTES + 3 * BLOCK_BYTES + 7
    file.seek(large)
    file.read(600_000)  # a chunk of spikes: its own blocks only
    first, last = session.asked[-1]
    assert first == large // BLOCK_BYTES * BLOCK_BYTES and last - first < 600_000 + 2 * BLOCK_BYTES
    file.seek(last)
    file.read(600_000)  # the next chunk: a scan, twice as much ahead
    assert session.asked[-1][0] == last and session.asked[-1][1] - last >= 2 * (last - first)


def test_one_units_grid_over_a_url_takes_few_requests(server, sample_nwb):
    with ns1nwb.open(server.url) as rec:
        opened = len(server.requests)
        rec.response_grid(units=[3])
    # The first request brings the size and the whole metadata block (bare h5py + remfile: 10 or more).
    assert opened <= 4 and len(server.requests) <= 5, server.requests
