"""Streaming: the requests and bytes ``ns1nwb.open(url)`` costs over HTTP, against bare h5py + remfile.

A loopback server on 127.0.0.1 (tests/localserver.py, the tests' own) serves the real release converted once
(untimed): the pooled file and the per-session files of ``convert --dandi``. It counts every request and the
bytes of each answer's body. Each measurement opens the URL afresh (a new connection, empty caches):

- pooled open: ``ns1nwb.open(url)``;
- open + one unit's grid: ``rec.response_grid(units=[k])`` after the open, for each ``--units`` (default
  0 59 118): the most requests and bytes among them;
- open + one unit's grid + one spectrogram: ``rec.spectrogram(s)`` too (``--stimulus``, default 0);
- open + every unit's grid: ``rec.response_grid()``;
- per-session open: ``ns1nwb.open(url)`` of each file of the ``--dandi`` folder: the most among them.

Baseline: the same HDF5 datasets read with bare h5py + remfile (``h5py.File(remfile.File(url), "r")``, remfile's
defaults) from the same file. MB counts the bodies of range requests (remfile's own size probe
is a whole-file GET it closes after the headers: counted as a request, not in MB). Targets (issue 24): open +
one unit's grid <= 8 requests and <= 10 MB; a per-session open <= 4 requests. The counts do not depend on the
machine; against a real server each request is a round trip (50-200 ms to DANDI's S3).

    python benchmarks/bench_remote.py [--raw PATH] [--nwb FILE] [--dandi-folder DIR] [--units K ...]
        [--stimulus S]

``--nwb`` / ``--dandi-folder``: measure files converted before (e.g. by another version) instead of converting.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from _common import fmt_bytes, make_parser, parse_args, verdict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from localserver import FileServer, serve_files  # noqa: E402  (the tests' loopback server)

TARGET_GRID_REQUESTS = 8
TARGET_GRID_BYTES = 10e6
TARGET_SESSION_REQUESTS = 4

#: What ``ns1nwb.open`` reads of each file: whole arrays, and datasets whose shape alone is looked at.
OPEN_ARRAYS = ["units/spike_times_index", "units/spike_trial_index", "units/session_id", "units/metadata_row",
               "intervals/trials/start_time", "intervals/trials/stop_time", "intervals/trials/stimulus_index",
               "intervals/trials/repeat_index", "intervals/trials/session_id",
               "intervals/trials/length_signal_ms", "identifier"]
OPEN_SHAPES = ["units/spike_times", "units/spike_trial", "processing/stimuli/stimuli/id",
               "processing/stimuli/stimuli/n_repeats"]


def count(server: FileServer, read: Callable[[], Any]) -> tuple[int, int]:
    """(requests, bytes of range answers) that ``read()`` cost."""
    first = len(server.requests)
    read()
    time.sleep(0.2)  # the server's last answers are counted once sent
    with server.lock:
        asked, sent = server.requests[first:], server.sent[first:]
    return len(asked), sum(n for (_, _, header), n in zip(asked, sent) if header)


# ----------------------------------------------------------------------------- ns1nwb


def ns1nwb_read(url: str, unit: int | str | None = None, stimulus: int | None = None) -> None:
    """``ns1nwb.open(url)``, then one unit's grid (``unit``), or every unit's (``unit="all"``), and a spectrogram."""
    import ns1nwb

    with ns1nwb.open(url) as rec:
        if unit == "all":
            rec.response_grid()
        elif unit is not None:
            rec.response_grid(units=[unit])
        if stimulus is not None:
            rec.spectrogram(stimulus)


# ----------------------------------------------------------------------------- bare h5py + remfile


def bare_read(url: str, unit: int | str | None = None, stimulus: int | None = None) -> None:
    """The datasets ns1nwb reads for the same call, read with bare h5py + remfile."""
    import h5py
    import remfile

    with h5py.File(remfile.File(url), "r") as f:
        for path in OPEN_ARRAYS:
            if path in f:
                f[path][()]
        for path in OPEN_SHAPES:
            f[path].shape
        if unit is not None:
            ends = f["units/spike_times_index"]
            begin, end = (0, None) if unit == "all" else ((int(ends[unit - 1]) if unit else 0), int(ends[unit]))
            f["units/obs_intervals"][()], f["units/obs_intervals_index"][()]
            f["units/spike_times"][begin:end], f["units/spike_trial"][begin:end]
        if stimulus is not None:
            table = f["processing/stimuli/stimuli"]
            columns = {name: table[name][()] for name in table.attrs["colnames"]}
            name = columns["spectrogram_series"][stimulus]
            f[f"stimulus/templates/{name.decode() if isinstance(name, bytes) else name}/data"][()]


# ----------------------------------------------------------------------------- the table


def print_header(raw: Path) -> None:
    import platform
    from importlib.metadata import version

    import ns1nwb

    versions = ", ".join(f"{name} {version(name)}" for name in ("h5py", "remfile", "fsspec", "aiohttp"))
    print("## bench_remote: requests and bytes over HTTP (a loopback server counting them)\n")
    print(f"raw: {raw}  ")
    print(f"python {platform.python_version()}, {versions}, ns1nwb {ns1nwb.__version__}; {platform.machine()}\n")


def mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--nwb", type=Path, help="a pooled file converted before (default: convert --raw)")
    parser.add_argument("--dandi-folder", type=Path, help="a --dandi folder converted before")
    parser.add_argument("--units", type=int, nargs="+", default=[0, 59, 118], help="units of the one-unit grids")
    parser.add_argument("--stimulus", type=int, default=0, help="the spectrogram's stimulus (default 0)")
    args = parse_args(parser, argv)

    import ns1nwb

    print_header(args.raw)
    with tempfile.TemporaryDirectory(prefix="bench_remote_") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pooled = args.nwb or ns1nwb.convert(args.raw, Path(tmp) / "ns1.nwb").output_paths[0]
        folder = args.dandi_folder or Path(tmp) / "dandi"
        if not args.dandi_folder:
            ns1nwb.convert(args.raw, folder, dandi=True)
        sessions = sorted(Path(folder).rglob("*.nwb"))
        print(f"pooled file: {fmt_bytes(Path(pooled).stat().st_size)}; --dandi folder: {len(sessions)} files, "
              f"{fmt_bytes(sum(p.stat().st_size for p in sessions))}\n")
        routes = {"/ns1.nwb": Path(pooled), **{f"/session/{i}.nwb": p for i, p in enumerate(sessions)}}
        rows = []
        with serve_files(routes) as server:
            url = f"{server.base_url}/ns1.nwb"

            def worst(read: Callable[..., None], urls: list[str], **kwargs: Any) -> tuple[int, int]:
                counts = [count(server, lambda: read(u, **kwargs)) for u in urls]
                return max(c[0] for c in counts), max(c[1] for c in counts)

            def grid_counts(read: Callable[..., None], **kwargs: Any) -> tuple[int, int]:
                counts = [count(server, lambda: read(url, unit=k, **kwargs)) for k in args.units]
                return max(c[0] for c in counts), max(c[1] for c in counts)

            session_urls = [f"{server.base_url}/session/{i}.nwb" for i in range(len(sessions))]
            units = " ".join(str(k) for k in args.units)
            measured = [
                ("pooled: `ns1nwb.open(url)`", count(server, lambda: bare_read(url)),
                 count(server, lambda: ns1nwb_read(url)), None),
                (f"pooled: open + one unit's grid (worst of units {units})", grid_counts(bare_read),
                 grid_counts(ns1nwb_read), (TARGET_GRID_REQUESTS, TARGET_GRID_BYTES)),
                (f"pooled: open + one unit's grid + `spectrogram({args.stimulus})`",
                 grid_counts(bare_read, stimulus=args.stimulus), grid_counts(ns1nwb_read, stimulus=args.stimulus),
                 None),
                ("pooled: open + every unit's grid", count(server, lambda: bare_read(url, unit="all")),
                 count(server, lambda: ns1nwb_read(url, unit="all")), None),
                (f"per-session: `ns1nwb.open(url)` (worst of {len(sessions)} files)", worst(bare_read, session_urls),
                 worst(ns1nwb_read, session_urls), (TARGET_SESSION_REQUESTS, None)),
            ]
        for what, (base_n, base_bytes), (n, n_bytes), target in measured:
            if target is None:
                goal, result = "none (info)", "-"
            else:
                most_requests, most_bytes = target
                goal = f"<= {most_requests} requests" + (f", <= {most_bytes / 1e6:g} MB" if most_bytes else "")
                result = verdict(n <= most_requests and (most_bytes is None or n_bytes <= most_bytes))
            rows.append((what, str(base_n), mb(base_bytes), str(n), mb(n_bytes), goal, result))
    header = ("what", "bare h5py + remfile: requests", "MB", "ns1nwb: requests", "MB", "target", "pass/fail")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |" for row in [header, *rows]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
