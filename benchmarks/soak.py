"""Soak test: convert the real NS1 release N times in one process; watch memory and determinism.

For every run it prints the wall time, the resident memory after the run (VmRSS of
/proc/self/status, after a ``gc.collect()``; the comparison runs in a child process so
only conversions weigh on it) and whether every HDF5 dataset of the file
holds the same values as run 1's: numbers and fixed-size data byte for byte, strings as
bytes, object references by the name of the object they point to (compound datasets
field by field). ``/file_create_date`` is the creation time, so it differs by design: it
is reported on its own line and is not a failure; any other differing dataset is.
Attribute differences (e.g. the random ``object_id`` UUIDs NWB gives every object) are
listed for information only.

    python benchmarks/soak.py                 # 10 runs of the real release (a few minutes)
    python benchmarks/soak.py --runs 3 --raw path/to/NS1

A report, not a test: it exits 0 whatever the verdicts (2 if the raw folder is missing).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_RAW = Path(__file__).resolve().parents[2] / "shared" / "ns1-raw"
#: Datasets that differ between two conversions by design.
EXPECTED_TO_DIFFER = {"/file_create_date": "the file's creation time"}


# --------------------------------------------------------------------------- memory


def rss_mb() -> float:
    """Current resident set size in MB (VmRSS), or the peak (ru_maxrss) where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


# --------------------------------------------------------------------------- comparing two files


def _comparable(h5file: Any, values: Any, dtype: np.dtype) -> Any:
    """``values`` of ``dtype`` as something ``==`` compares meaningfully (and exactly)."""
    import h5py

    values = np.asarray(values)
    if dtype.names:
        return tuple(_comparable(h5file, values[name], dtype.fields[name][0]) for name in dtype.names)
    ref_kind = h5py.check_ref_dtype(dtype)
    if ref_kind is not None:
        def target(ref: Any) -> Any:
            if not ref:
                return None
            name = _object_names(h5file)[h5py.h5o.get_info(h5file[ref].id).addr]
            if ref_kind is h5py.RegionReference:
                return name, h5file[ref][ref].tobytes()
            return name
        return (values.shape, [target(ref) for ref in values.ravel()])
    if dtype.kind == "O" or h5py.check_string_dtype(dtype) is not None or h5py.check_vlen_dtype(dtype) is not None:
        flat = [v.tobytes() if isinstance(v, np.ndarray) else (v.encode() if isinstance(v, str) else v)
                for v in values.ravel()]
        return (values.shape, flat)
    return (values.shape, str(values.dtype), values.tobytes())


_NAMES: dict[int, dict[int, str]] = {}


def _object_names(h5file: Any) -> dict[int, str]:
    """Object address -> path of every object of ``h5file`` (``obj.name`` per reference is ~1 ms; this is not)."""
    import h5py

    key = id(h5file)
    if key not in _NAMES:
        names = {h5py.h5o.get_info(h5file.id).addr: "/"}

        def visit(name: str, obj: Any) -> None:  # must return None, or visititems stops
            names.setdefault(h5py.h5o.get_info(obj.id).addr, "/" + name)

        h5file.visititems(visit)
        _NAMES[key] = names
    return _NAMES[key]


def _datasets(h5file: Any) -> dict[str, Any]:
    import h5py

    found: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found["/" + name] = obj

    h5file.visititems(visit)
    return found


def _attributes(h5file: Any) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}

    def visit(name: str, obj: Any) -> None:
        for key, value in obj.attrs.items():
            found[("/" + name, key)] = value

    visit("", h5file)
    h5file.visititems(visit)
    return found


def _attr_value(h5file: Any, value: Any) -> Any:
    """An attribute value with object references replaced by their targets' names."""
    import h5py

    if isinstance(value, h5py.Reference):
        return ("ref", _object_names(h5file)[h5py.h5o.get_info(h5file[value].id).addr] if value else None)
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        return (value.shape, [_attr_value(h5file, v) for v in value.ravel()])
    if isinstance(value, np.ndarray):
        return (value.shape, str(value.dtype), value.tobytes())
    return value


def compare(reference: Path, other: Path) -> tuple[list[str], Counter]:
    """(datasets whose values differ or exist in one file only, differing attributes counted by name)."""
    import h5py

    differing: list[str] = []
    with h5py.File(reference, "r") as a, h5py.File(other, "r") as b:
        ds_a, ds_b = _datasets(a), _datasets(b)
        for name in sorted(ds_a.keys() | ds_b.keys()):
            if name not in ds_a or name not in ds_b:
                differing.append(f"{name} (only in run {'1' if name in ds_a else 'N'})")
                continue
            x, y = ds_a[name], ds_b[name]
            if x.shape != y.shape or x.dtype != y.dtype:
                differing.append(f"{name} (shape/dtype {x.shape} {x.dtype} vs {y.shape} {y.dtype})")
            elif _comparable(a, x[()], x.dtype) != _comparable(b, y[()], y.dtype):
                differing.append(name)
        at_a, at_b = _attributes(a), _attributes(b)
        attrs: Counter = Counter()
        for key in at_a.keys() | at_b.keys():
            if key not in at_a or key not in at_b or _attr_value(a, at_a[key]) != _attr_value(b, at_b[key]):
                attrs[key[1]] += 1
        _NAMES.pop(id(a), None)
        _NAMES.pop(id(b), None)
    return differing, attrs


def compare_in_child(reference: Path, other: Path) -> tuple[list[str], Counter]:
    """:func:`compare` in a child process, so its reads do not weigh on the soak's own RSS."""
    import json
    import subprocess

    done = subprocess.run([sys.executable, __file__, "--compare", str(reference), str(other)],
                          capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    return found["datasets"], Counter(found["attributes"])


# --------------------------------------------------------------------------- the soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW, help=f"raw NS1 release folder (default {DEFAULT_RAW})")
    parser.add_argument("--runs", type=int, default=10, help="conversions in a row (default 10)")
    parser.add_argument("--rss-growth-mb", type=float, default=50.0,
                        help="RSS growth from run 2 to the last run still called flat (default 50 MB)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.compare:  # child mode of compare_in_child: print the differences as JSON
        import json

        datasets, attrs = compare(*args.compare)
        print(json.dumps({"datasets": datasets, "attributes": dict(attrs)}))
        return 0
    if args.runs < 2:
        parser.error("--runs must be at least 2 (run 1 is the reference)")
    raw = args.raw.expanduser().resolve()
    if not (raw / "MetadataSHEnCneurons.mat").is_file():
        print(f"error: {raw} is not an NS1 release folder (no MetadataSHEnCneurons.mat); pass --raw PATH",
              file=sys.stderr)
        return 2

    warnings.simplefilter("ignore")  # third-party deprecation noise; the real release raises no ns1nwb warning
    # Import everything convert() imports lazily, so run 1 is not charged for it.
    import h5py  # noqa: F401
    import ndx_sound  # noqa: F401
    import pynwb  # noqa: F401
    import scipy.io  # noqa: F401
    import scipy.signal  # noqa: F401
    import soundfile  # noqa: F401

    from ns1nwb import __version__
    from ns1nwb import convert

    print(f"# ns1nwb {__version__} soak: {args.runs} conversions of {raw} in one process (pid {os.getpid()})")
    print(f"RSS before run 1: {rss_mb():.0f} MB\n")
    print("| run | wall (s) | RSS after (MB) | same datasets as run 1 | differing datasets (besides /file_create_date) |")
    print("|---:|---:|---:|:---:|---|")
    sys.stdout.flush()

    rss: list[float] = []
    failures: dict[int, list[str]] = {}
    expected_differences: Counter = Counter()
    attribute_differences: Counter = Counter()
    with tempfile.TemporaryDirectory(prefix="ns1nwb-soak-") as tmp:
        first = Path(tmp) / "run01.nwb"
        for run in range(1, args.runs + 1):
            out = first if run == 1 else Path(tmp) / f"run{run:02d}.nwb"
            start = time.perf_counter()
            convert(raw, out, overwrite=True)
            wall = time.perf_counter() - start
            gc.collect()
            rss.append(rss_mb())
            if run == 1:
                same, listed = "(reference)", ""
            else:
                differing, attrs = compare_in_child(first, out)
                attribute_differences.update(attrs)
                expected_differences.update(d for d in differing if d in EXPECTED_TO_DIFFER)
                unexpected = [d for d in differing if d not in EXPECTED_TO_DIFFER]
                if unexpected:
                    failures[run] = unexpected
                same = "no" if unexpected else "yes"
                listed = ", ".join(unexpected[:8]) + (f", ... ({len(unexpected)} in all)" if len(unexpected) > 8 else "")
                out.unlink()
            print(f"| {run} | {wall:.1f} | {rss[-1]:.0f} | {same} | {listed} |")
            sys.stdout.flush()
        size_mb = first.stat().st_size / 1e6

    growth = rss[-1] - rss[1]
    print()
    print(f"file size: {size_mb:.1f} MB; peak RSS of the process: {peak_rss_mb():.0f} MB")
    for name, why in EXPECTED_TO_DIFFER.items():
        print(f"{name}: differs from run 1 in {expected_differences[name]} of {args.runs - 1} runs ({why}; expected, "
              "not counted)")
    if attribute_differences:
        listed = ", ".join(f"{k} x{v}" for k, v in attribute_differences.most_common())
        print(f"attributes differing from run 1 (information only, summed over runs): {listed}")
    else:
        print("attributes differing from run 1: none")
    print(f"identical: {'no' if failures else 'yes'}"
          + (f" (runs {', '.join(map(str, failures))} differ: {sorted({d for v in failures.values() for d in v})})"
             if failures else f" (every dataset of runs 2-{args.runs} equals run 1's, /file_create_date aside)"))
    print(f"memory flat: {'yes' if growth < args.rss_growth_mb else 'no'} (RSS run 2 -> run {args.runs}: "
          f"{rss[1]:.0f} -> {rss[-1]:.0f} MB, {growth:+.0f} MB; limit {args.rss_growth_mb:g} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
