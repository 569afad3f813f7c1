"""Shared helpers for the ns1nwb benchmark scripts: raw-path resolution, timing, tables.

Not part of the package; imported by the ``bench_*.py`` scripts next to it.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

#: ``<repo root>/../shared/ns1-raw``: the real release, read in place.
DEFAULT_RAW = Path(__file__).resolve().parents[2] / "shared" / "ns1-raw"
METADATA_FILE = "MetadataSHEnCneurons.mat"
SPIKES_DIR = "spikesandwav"
#: The files ``convert(..., all_clusters=True)`` reads as clusters: ``cluster.NN.data*.mat`` (``_1`` variant
#: included), and the folders' ``clusterquality.mat``.
CLUSTER_FILE = re.compile(r"^cluster\.\d+\.data.*\.mat$")
CLUSTER_QUALITY_FILE = "clusterquality.mat"


# --------------------------------------------------------------------------- arguments


def make_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes (``--raw``, ``--repeats``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW,
                        help=f"raw NS1 release folder (default: {DEFAULT_RAW})")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per side; the best (minimum) is reported (default: 3)")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse, check ``--repeats``, and resolve ``--raw`` (exit 2 with a message when it is missing)."""
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.raw = resolve_raw(args.raw)
    return args


def resolve_raw(raw: Path) -> Path:
    """The raw folder as an absolute path; exits with status 2 if it is not an NS1 release."""
    raw = Path(raw).expanduser().resolve()
    if not raw.is_dir():
        print(f"error: raw NS1 folder {raw} not found; pass --raw PATH (the folder holding "
              f"{METADATA_FILE} and {SPIKES_DIR}/)", file=sys.stderr)
        raise SystemExit(2)
    if not (raw / METADATA_FILE).is_file() or not (raw / SPIKES_DIR).is_dir():
        print(f"error: {raw} is not an NS1 release folder (expected {METADATA_FILE} and {SPIKES_DIR}/ in it); "
              "pass --raw PATH", file=sys.stderr)
        raise SystemExit(2)
    return raw


def folder_size(folder: Path) -> int:
    """Sum of the sizes of every file under ``folder`` (bytes)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


# --------------------------------------------------------------------------- the bare baseline


def bare_loadmat(raw: Path) -> tuple[Any, list[dict[str, Any]]]:
    """``scipy.io.loadmat`` of the metadata and of every spike file it lists, default options.

    Only the seed's ``_1`` fallback is added (it costs nothing when the file exists).
    Returns the ``neuron`` struct array and the loaded spike-file dicts, in metadata order.
    """
    import scipy.io as sio

    neurons = sio.loadmat(raw / METADATA_FILE)["neuron"][0]
    spikes_root = raw / SPIKES_DIR
    loaded = []
    for neuron in neurons:
        spike_path = spikes_root / str(neuron["path"].item())
        try:
            loaded.append(sio.loadmat(spike_path))
        except FileNotFoundError:
            loaded.append(sio.loadmat(spike_path.with_name(spike_path.stem + "_1.mat")))
    return neurons, loaded


def release_mat_files(raw: Path) -> tuple[list[Path], list[Path]]:
    """(every ``cluster.NN.data*.mat``, every ``clusterquality.mat``) under ``spikesandwav/``, in path order.

    The tree walked and ordered as ns1nwb does (``os.walk``, links to folders not followed; paths relative
    to ``spikesandwav/`` compared as text).
    """
    clusters, qualities = [], []
    for folder, _, names in os.walk(raw / SPIKES_DIR, followlinks=False):
        for name in names:
            if CLUSTER_FILE.match(name):
                clusters.append(Path(folder) / name)
            elif name == CLUSTER_QUALITY_FILE:
                qualities.append(Path(folder) / name)

    def path_order(path: Path) -> str:
        return path.relative_to(raw / SPIKES_DIR).as_posix()

    return sorted(clusters, key=path_order), sorted(qualities, key=path_order)


def bare_loadmat_all(raw: Path) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """``scipy.io.loadmat`` of the metadata, every cluster file and every ``clusterquality.mat``, default options.

    The files an all-clusters conversion reads as .mat (the metadata's units are among the cluster files).
    Returns the metadata dict and the loaded cluster and quality dicts, in path order.
    """
    import scipy.io as sio

    clusters, qualities = release_mat_files(raw)
    metadata = sio.loadmat(raw / METADATA_FILE)
    return metadata, [sio.loadmat(p) for p in clusters], [sio.loadmat(p) for p in qualities]


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, result) of one call, after a garbage collection."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def best_of_alternating(sides: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Run each side ``repeats`` times, alternating sides run by run; the best time (s) of each.

    Alternating (a b a b ...) makes slow drifts of the machine hit both sides alike.
    """
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            seconds, result = timed(fn)
            del result
            times[name].append(seconds)
    return {name: min(values) for name, values in times.items()}


# --------------------------------------------------------------------------- reporting


def fmt_seconds(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_spread(seconds: list[float]) -> str:
    """Median and range, e.g. ``0.41 s (0.39-0.47)``."""
    return f"{fmt_seconds(statistics.median(seconds))} ({min(seconds):.2f}-{max(seconds):.2f} s)"


def fresh_process_seconds(code: str, *args: Any, env: dict[str, str] | None = None) -> float:
    """Wall time of ``python -c code args`` from start to exit (interpreter start-up and imports included)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def fmt_bytes(n_bytes: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.2f} {unit}"
    return f"{n_bytes:.0f} B"


def print_warnings(caught: list, when: str) -> None:
    """One line per distinct warning (category, message, how many times)."""
    counts: dict[tuple[str, str], int] = {}
    for warning in caught:
        key = (warning.category.__name__, str(warning.message))
        counts[key] = counts.get(key, 0) + 1
    for (category, message), n in counts.items():
        print(f"{category} during {when}{f' (x{n})' if n > 1 else ''}: {message}")


def timed_recording_warnings(fn: Callable[[], Any], when: str) -> tuple[float, Any]:
    """``timed(fn)``, with every warning it raises recorded and printed once (:func:`print_warnings`)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = timed(fn)
    print_warnings(caught, when)
    return result


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


class Table:
    """A small Markdown table: what, baseline, ns1nwb, ratio, target, pass/fail."""

    header = ("what", "baseline", "ns1nwb", "ratio", "target", "pass/fail")

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(self, what: str, baseline: str, ns1nwb: str, ratio: str, target: str, result: str) -> None:
        self.rows.append((what, baseline, ns1nwb, ratio, target, result))

    def render(self) -> str:
        widths = [max(len(row[i]) for row in [self.header, *self.rows]) for i in range(len(self.header))]
        lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |"
                 for row in [self.header, *self.rows]]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)


def print_header(title: str, raw: Path, repeats: int) -> None:
    """Title plus the facts needed to compare two runs of the same benchmark."""
    import numpy
    import scipy

    versions = [f"python {platform.python_version()}", f"numpy {numpy.__version__}", f"scipy {scipy.__version__}"]
    try:
        import h5py

        versions.append(f"h5py {h5py.__version__}")
    except ImportError:
        pass
    import ns1nwb

    versions.append(f"ns1nwb {ns1nwb.__version__}")
    print(f"## {title}\n")
    print(f"raw: {raw}  ")
    print(f"best of {repeats} alternating runs per side; OS file cache warm for both sides  ")
    print(f"{', '.join(versions)}; {platform.machine()}, {_cpu_count()} CPUs\n")


def _cpu_count() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
