"""The response grid: ``Recording.response_grid()`` vs the seed pipeline straight from the .mat files.

baseline: a faithful reimplementation of the seed (deepSTRF ``NS1Dataset``, spec section "What the
seed computes"): ``scipy.io.loadmat`` of the metadata and each unit's spike file; for every unit in
metadata order, natural set 0..19 and repeat: ``np.round(t).astype(int)``, keep ``0 <= st < 4995``,
one-hot a 4995-ms vector, sum every 5 ms (999 bins); then every row smoothed with the unnormalised
``np.hanning(5)`` kernel, zero padded (one vectorised ``scipy.ndimage.convolve1d`` over all rows).
Result (119, 20, 20, 999) float32.

ns1nwb: a cold ``with ns1nwb.open(nwb) as rec: rec.response_grid()`` (open included) on a file
converted once, untimed, into a temp folder. The two grids must be exactly equal. Target: baseline /
ns1nwb >= 30. The same grid against its floor, alternating in the same run: open the file with h5py,
read ``units/spike_times_index``, ``units/spike_times`` and ``units/spike_trial`` whole, and fill an array
of the grid's shape and dtype (``np.full``, every page written). Target ns1nwb / floor <= 1.6. Also one
unit's grid (``units=[k]``), fresh open each run, timed with the open excluded and included. Target < 50 ms.

Fresh processes (most users build one grid per Python session): each side in its own interpreter,
the three alternating, ``--fresh N`` runs each (default 7), wall time of the whole process: the grid
(``import ns1nwb``, open, ``response_grid()``), its floor (python, ``import h5py, numpy``, the floor
above) and the seed pipeline (``seed_grid`` of this script, imports included). Median and range.
Modules come from cached bytecode, as installed packages do (written in a first, untimed round under
the temporary folder, even when PYTHONDONTWRITEBYTECODE is set). Targets: grid / floor <= 1.5;
seed / grid >= 8.

All clusters: the tree is also converted once with ``all_clusters=True`` (untimed), and
``with ns1nwb.open(f) as rec: rec.response_grid(units=rec.units.in_metadata)`` (open included) is timed
against its floor in the same run, alternating: as above, but reading exactly the ``units/spike_times``
and ``units/spike_trial`` slices of those units (the metadata units come first, so one contiguous slice
each). Target ns1nwb / floor <= 1.6; the grid must equal the seed's value for value. Info row: the open
excluded (``rec.units.in_metadata`` and the grid).

    python benchmarks/bench_grid.py [--raw PATH] [--repeats N] [--fresh N] [--units K [K ...]]
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import (
    fmt_spread,
    fresh_process_seconds,
    METADATA_FILE,
    SPIKES_DIR,
    Table,
    best_of_alternating,
    fmt_seconds,
    make_parser,
    parse_args,
    print_header,
    timed,
    timed_recording_warnings,
    verdict,
)

TARGET_SPEEDUP = 30.0
TARGET_ONE_UNIT_S = 0.050
TARGET_FLOOR_RATIO = 1.6
TARGET_FRESH_FLOOR_RATIO = 1.5
TARGET_FRESH_SPEEDUP = 8.0
RAW_LEN_MS = 4995
DT_MS = 5
N_NATURAL = 20


# --------------------------------------------------------------------------- the seed, reimplemented


def _load_spike_file(spike_path: Path) -> Any:
    import scipy.io as sio

    try:
        return sio.loadmat(spike_path)
    except FileNotFoundError:  # the seed's fallback, then skip
        fallback = spike_path.with_name(spike_path.stem + "_1.mat")
        try:
            return sio.loadmat(fallback)
        except FileNotFoundError:
            print(f"seed: skipping {spike_path} (not found, nor {fallback.name})")
            return None


def seed_counts(temp: Any) -> np.ndarray:
    """One loaded spike file -> (20, R, 999) float32 counts, the seed's loop as written."""
    bin_size = DT_MS
    n_bins = RAW_LEN_MS // bin_size
    per_set = []
    for s in range(N_NATURAL):
        repeats_grp = temp["data"]["set"][0, 0]["repeats"][0, s]
        n_repeats = int(repeats_grp.shape[1])
        spike_matrix = np.zeros((n_repeats, n_bins), dtype=np.float32)
        for r in range(n_repeats):
            spiketimes = np.round(repeats_grp[0]["t"][r][0]).astype(int)
            spiketimes = spiketimes[(spiketimes >= 0) & (spiketimes < RAW_LEN_MS)]
            one_hot = np.zeros(RAW_LEN_MS, dtype=np.float32)
            one_hot[spiketimes] = 1.0
            spike_matrix[r] = one_hot.reshape(-1, bin_size).sum(axis=1)
        per_set.append(spike_matrix)
    return np.stack(per_set)


def seed_smooth(counts: np.ndarray) -> np.ndarray:
    """Unnormalised ``np.hanning(5)`` over the last axis, zero padded, all rows at once (float32)."""
    from scipy.ndimage import convolve1d

    width = int(21.0 // DT_MS)
    if width % 2 == 0:
        width += 1
    return convolve1d(counts, np.hanning(width), axis=-1, mode="constant", cval=0.0)


def seed_grid(raw: Path, smooth: bool = True) -> np.ndarray:
    """(n_units, 20, 20, 999) float32, units in metadata order (missing spike files skipped)."""
    import scipy.io as sio

    neurons = sio.loadmat(raw / METADATA_FILE)["neuron"][0]
    units = []
    for neuron in neurons:
        temp = _load_spike_file(raw / SPIKES_DIR / str(neuron["path"].item()))
        if temp is not None:
            units.append(seed_counts(temp))
    counts = np.stack(units)
    return seed_smooth(counts) if smooth else counts


def seed_one_unit(spike_path: Path) -> np.ndarray:
    """(1, 20, 20, 999): one unit whose spike-file path is already known."""
    return seed_smooth(seed_counts(_load_spike_file(spike_path))[None])


def spike_paths(raw: Path) -> list[Path]:
    import scipy.io as sio

    return [raw / SPIKES_DIR / str(n["path"].item()) for n in sio.loadmat(raw / METADATA_FILE)["neuron"][0]]


# --------------------------------------------------------------------------- ns1nwb side


def ns1nwb_grid(nwb: Path, **kwargs: Any) -> np.ndarray:
    import ns1nwb

    with ns1nwb.open(nwb) as rec:
        return rec.response_grid(**kwargs)


def ns1nwb_metadata_grid(nwb: Path) -> np.ndarray:
    """The grid of the metadata units of an all-clusters file, as a user writes it (open included)."""
    import ns1nwb

    with ns1nwb.open(nwb) as rec:
        return rec.response_grid(units=rec.units.in_metadata)


def ns1nwb_metadata_grid_open_excluded(nwb: Path) -> tuple[float, np.ndarray]:
    """(seconds from the open's return to the grid, grid): ``rec.units.in_metadata`` and the grid only."""
    import ns1nwb

    gc.collect()
    with ns1nwb.open(nwb) as rec:
        start = time.perf_counter()
        grid = rec.response_grid(units=rec.units.in_metadata)
        return time.perf_counter() - start, grid


# --------------------------------------------------------------------------- the floor


def metadata_runs(nwb: Path) -> list[tuple[int, int]]:
    """Runs ``(first, last + 1)`` of consecutive metadata units in file order (all units without ``in_metadata``).

    Found once, untimed: what the floor needs to know to read exactly the grid's spikes.
    """
    import h5py

    with h5py.File(nwb, "r") as h5:
        units = h5["units"]
        if "in_metadata" not in units:
            return [(0, int(units["spike_times_index"].shape[0]))]
        local = np.flatnonzero(units["in_metadata"][:].astype(bool))
    breaks = np.flatnonzero(np.diff(local) != 1) + 1
    return [(int(run[0]), int(run[-1]) + 1) for run in np.split(local, breaks) if run.size]


def floor_grid(nwb: Path, runs: list[tuple[int, int]], shape: tuple[int, ...],
               dtype: np.dtype) -> tuple[list[np.ndarray], np.ndarray]:
    """The least the grid costs: open, read the spike arrays it needs, write every byte of the output."""
    import h5py

    with h5py.File(nwb, "r") as h5:
        units = h5["units"]
        ends = units["spike_times_index"][:]
        spikes = []
        for first, stop in runs:
            a, b = (int(ends[first - 1]) if first else 0), int(ends[stop - 1])
            spikes += [units["spike_times"][a:b], units["spike_trial"][a:b]]
    return spikes, np.full(shape, 0.0, dtype=dtype)


# --------------------------------------------------------------------------- fresh processes

#: Each side's whole work in a new interpreter; argv[1] is the file (or the raw folder for the seed).
FRESH_GRID = """
import sys
import ns1nwb
with ns1nwb.open(sys.argv[1]) as rec:
    rec.response_grid()
"""
FRESH_FLOOR = """
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r") as f:
    units = f["units"]
    units["spike_times_index"][:]
    units["spike_times"][:]
    units["spike_trial"][:]
np.full(tuple(int(n) for n in sys.argv[2:]), 0.0, dtype=np.float32)
"""
FRESH_SEED = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from bench_grid import seed_grid
seed_grid(Path(sys.argv[1]))
"""


def fresh_process_times(nwb: Path, raw: Path, shape: tuple[int, ...], runs: int,
                        pycache: Path) -> dict[str, list[float]]:
    """Seconds of each side in ``runs`` rounds, the sides alternating (grid, floor, seed) round by round.

    Modules are imported from cached bytecode, as after ``pip install`` or a first import: the children
    write and read it under ``pycache`` (never beside the sources), whatever PYTHONDONTWRITEBYTECODE says,
    and a first untimed round writes it. Without it, each grid process would compile ns1nwb's modules
    (about 40 ms) while numpy's and h5py's come compiled with their wheels.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    sides = {"grid": (FRESH_GRID, nwb), "floor": (FRESH_FLOOR, nwb, *shape), "seed": (FRESH_SEED, raw)}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_index in range(runs + 1):
        for name, (code, *args) in sides.items():
            seconds = fresh_process_seconds(code, *args, env=env)
            if round_index:
                times[name].append(seconds)
    return times


def ns1nwb_one_unit(nwb: Path, k: int) -> tuple[float, float, np.ndarray]:
    """(seconds open excluded, seconds open included, grid) of ``response_grid(units=[k])`` on a fresh open."""
    import ns1nwb

    start = time.perf_counter()
    rec = ns1nwb.open(nwb)
    opened = time.perf_counter()
    grid = rec.response_grid(units=[k])
    done = time.perf_counter()
    rec.close()
    closed = time.perf_counter()
    return done - opened, closed - start, grid


# --------------------------------------------------------------------------- comparison


def describe_mismatch(expected: np.ndarray, got: np.ndarray, label: str, limit: int = 10) -> None:
    """Say precisely where two grids differ."""
    print(f"\n**{label}: MISMATCH**  ")
    if expected.shape != got.shape or expected.dtype != got.dtype:
        print(f"baseline {expected.shape} {expected.dtype} vs ns1nwb {got.shape} {got.dtype}")
        if expected.shape != got.shape:
            return
    nan_got = np.isnan(got)
    if nan_got.any():
        units, stims, reps = np.nonzero(nan_got.any(axis=-1))
        print(f"ns1nwb has {int(nan_got.sum())} NaN values in {units.size} rows, e.g. "
              + ", ".join(f"(unit {u}, stim {s}, repeat {r})" for u, s, r in list(zip(units, stims, reps))[:limit]))
    differ = ~((expected == got) | (np.isnan(expected) & nan_got))
    n_diff = int(differ.sum())
    idx = np.argwhere(differ)
    rows = {tuple(i[:3]) for i in idx}
    print(f"{n_diff} of {differ.size} values differ, in {len(rows)} (unit, stim, repeat) rows, "
          f"{len({i[0] for i in idx})} units; max |diff| "
          f"{float(np.nanmax(np.abs(expected.astype(np.float64) - got)[differ])) if n_diff else 0:.6g}")
    for u, s, r, t in idx[:limit]:
        print(f"  unit {u} stim {s} repeat {r} bin {t}: baseline {expected[u, s, r, t]!r} ns1nwb {got[u, s, r, t]!r}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[0, 59, 118],
                        help="units (metadata rows) to time one-unit grids for (default: 0 59 118)")
    parser.add_argument("--fresh", type=int, default=7,
                        help="fresh-process runs of each side (grid, floor, seed); 0 skips them (default: 7)")
    args = parse_args(parser, argv)
    raw = args.raw

    from ns1nwb import convert

    print_header("bench_grid: response grid (119 units x 20 sounds x 20 repeats x 999 bins)", raw, args.repeats)

    with tempfile.TemporaryDirectory(prefix="ns1nwb-bench-") as tmp:
        nwb = Path(tmp) / "ns1.nwb"
        seconds, result = timed_recording_warnings(lambda: convert(raw, nwb, overwrite=True), "the conversion")
        print(f"converted once (untimed in the comparison, {fmt_seconds(seconds)}): {result.summary()}")
        nwb_all = Path(tmp) / "ns1_all.nwb"
        seconds, result_all = timed_recording_warnings(
            lambda: convert(raw, nwb_all, overwrite=True, all_clusters=True), "the all-clusters conversion")
        print(f"\nconverted once with all_clusters=True (untimed, {fmt_seconds(seconds)}): {result_all.summary()}")

        # Warm-up (imports excluded from both) and the grids to compare.
        _, expected = timed(lambda: seed_grid(raw))
        _, got = timed(lambda: ns1nwb_grid(nwb))
        equal = bool(np.array_equal(expected, got))
        print(f"\nnp.array_equal(baseline, ns1nwb) = {equal}: baseline {expected.shape} {expected.dtype}, "
              f"ns1nwb {got.shape} {got.dtype}; {int(expected.sum()):,} summed smoothed counts")
        if not equal:
            describe_mismatch(expected, got, "smoothed grid")
            counts_expected = seed_grid(raw, smooth=False)
            counts_got = ns1nwb_grid(nwb, smooth=False)
            if np.array_equal(counts_expected, counts_got):
                print("unsmoothed counts (smooth=False) are equal: the difference is in the smoothing")
            else:
                describe_mismatch(counts_expected, counts_got, "unsmoothed counts (smooth=False)")
        print()

        runs = metadata_runs(nwb)
        timed(lambda: floor_grid(nwb, runs, got.shape, got.dtype))  # warm-up
        best = best_of_alternating({"baseline": lambda: seed_grid(raw), "ns1nwb": lambda: ns1nwb_grid(nwb),
                                    "floor": lambda: floor_grid(nwb, runs, got.shape, got.dtype)}, args.repeats)
        speedup = best["baseline"] / best["ns1nwb"]
        floor_ratio = best["ns1nwb"] / best["floor"]

        table = Table()
        table.add("full grid (ns1nwb: cold open included)", fmt_seconds(best["baseline"]),
                  fmt_seconds(best["ns1nwb"]), f"{speedup:.1f}x", f"baseline/ns1nwb >= {TARGET_SPEEDUP:.0f}",
                  verdict(speedup >= TARGET_SPEEDUP))
        table.add("full grid vs its floor (baseline: the floor)", fmt_seconds(best["floor"]),
                  fmt_seconds(best["ns1nwb"]), f"{floor_ratio:.2f}x", f"ns1nwb/floor <= {TARGET_FLOOR_RATIO:g}",
                  verdict(floor_ratio <= TARGET_FLOOR_RATIO))
        table.add("grids exactly equal (np.array_equal)", f"{expected.shape} {expected.dtype}",
                  f"{got.shape} {got.dtype}", "-", "equal", verdict(equal))

        if args.fresh > 0:
            fresh = fresh_process_times(nwb, raw, got.shape, args.fresh, Path(tmp) / "pycache")
            grid_s, floor_s, seed_s = (statistics.median(fresh[name]) for name in ("grid", "floor", "seed"))
            fresh_ratio, fresh_speedup = grid_s / floor_s, seed_s / grid_s
            table.add(f"fresh process: full grid vs its floor (median of {args.fresh})", fmt_spread(fresh["floor"]),
                      fmt_spread(fresh["grid"]), f"{fresh_ratio:.2f}x", f"ns1nwb/floor <= {TARGET_FRESH_FLOOR_RATIO:g}",
                      verdict(fresh_ratio <= TARGET_FRESH_FLOOR_RATIO))
            table.add(f"fresh process: seed pipeline vs full grid (median of {args.fresh})", fmt_spread(fresh["seed"]),
                      fmt_spread(fresh["grid"]), f"{fresh_speedup:.1f}x", f"baseline/ns1nwb >= {TARGET_FRESH_SPEEDUP:g}",
                      verdict(fresh_speedup >= TARGET_FRESH_SPEEDUP))

        paths = spike_paths(raw)
        one_unit_equal = True
        for k in args.units:
            if not 0 <= k < len(paths):
                print(f"skipping unit {k}: out of range 0..{len(paths) - 1}")
                continue
            base_times, excl, incl = [], [], []
            timed(lambda: seed_one_unit(paths[k]))
            ns1nwb_one_unit(nwb, k)  # warm-up
            for _ in range(args.repeats):
                base_times.append(timed(lambda: seed_one_unit(paths[k]))[0])
                t_excl, t_incl, grid_k = ns1nwb_one_unit(nwb, k)
                excl.append(t_excl)
                incl.append(t_incl)
            same = bool(np.array_equal(grid_k[0], expected[k]))
            one_unit_equal &= same
            if not same:
                describe_mismatch(expected[k:k + 1], grid_k, f"one-unit grid k={k}")
            b, e, i = min(base_times), min(excl), min(incl)
            table.add(f"one unit k={k}, open excluded", fmt_seconds(b), fmt_seconds(e), f"{b / e:.1f}x",
                      f"ns1nwb < {TARGET_ONE_UNIT_S * 1000:.0f} ms", verdict(e < TARGET_ONE_UNIT_S))
            table.add(f"one unit k={k}, open included", fmt_seconds(b), fmt_seconds(i), f"{b / i:.1f}x",
                      f"ns1nwb < {TARGET_ONE_UNIT_S * 1000:.0f} ms", verdict(i < TARGET_ONE_UNIT_S))
        table.add("one-unit grids == rows of the full baseline grid", "-", "-", "-", "equal",
                  verdict(one_unit_equal))

        # The metadata units of an all-clusters file vs the floor of that grid.
        runs_all = metadata_runs(nwb_all)
        _, got_all = timed(lambda: ns1nwb_metadata_grid(nwb_all))  # warm-up of both sides
        timed(lambda: floor_grid(nwb_all, runs_all, got_all.shape, got_all.dtype))
        all_equal = bool(np.array_equal(expected, got_all))
        if not all_equal:
            describe_mismatch(expected, got_all, "all-clusters file, units=rec.units.in_metadata")
        best_all = best_of_alternating(
            {"floor": lambda: floor_grid(nwb_all, runs_all, got_all.shape, got_all.dtype),
             "ns1nwb": lambda: ns1nwb_metadata_grid(nwb_all)},
            args.repeats)
        excluded = min(ns1nwb_metadata_grid_open_excluded(nwb_all)[0] for _ in range(args.repeats))
        n_meta = sum(b - a for a, b in runs_all)
        floor_all, ratio = best_all["floor"], best_all["ns1nwb"] / best_all["floor"]
        table.add(f"all-clusters file ({result_all.n_units} units): the {n_meta} in_metadata, open included, "
                  "vs floor",
                  fmt_seconds(floor_all), fmt_seconds(best_all["ns1nwb"]), f"{ratio:.2f}x",
                  f"ns1nwb/floor <= {TARGET_FLOOR_RATIO:g}", verdict(ratio <= TARGET_FLOOR_RATIO))
        table.add("(info) the same, open excluded (rec.units.in_metadata + grid)", fmt_seconds(floor_all),
                  fmt_seconds(excluded), f"{excluded / floor_all:.2f}x", "-", "-")
        table.add("its grid == the seed's (np.array_equal)", f"{expected.shape} {expected.dtype}",
                  f"{got_all.shape} {got_all.dtype}", "-", "equal", verdict(all_equal))
    print("(floor rows: baseline = the floor: h5py open, spike_times_index and the units' spike_times and spike_trial "
          "(whole, or the metadata units' contiguous slices), np.full of the grid's shape and dtype)  ")
    print("(fresh-process rows: wall time of a new interpreter doing only that, median and range over the runs, "
          "modules from cached bytecode as installed; seed = this script's seed_grid)  ")
    print("(one-unit baseline: loadmat of that unit's spike file + the seed's binning and smoothing; "
          "ns1nwb: a fresh open each run)\n")
    print(table.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
