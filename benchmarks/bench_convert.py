"""Converting the raw release to NWB: time, peak memory and output size.

- time: ``ns1nwb.convert(raw, tmp/ns1.nwb, overwrite=True)`` vs the bare
  ``scipy.io.loadmat`` of the metadata and the 119 spike files, in this process, after one
  untimed run of each (imports excluded from both). Target <= 4x. Both run on one core.
- peak memory: the maximum resident set size of one fresh child ``python -c`` doing one
  conversion (and, for scale, of one doing the bare loadmat). Target < 1.5 GB.
- size: the written ``.nwb`` vs the raw folder (sum of its file sizes). Target <= 0.6.
- as users run it: ``ns1nwb convert RAW OUT --overwrite`` in a new interpreter (start-up and imports
  included) against a new interpreter doing the bare loadmat (``import scipy.io`` included), alternating,
  ``--fresh N`` runs each (default 3), median and range; the same target.

With ``--all-clusters``, the same for the whole release as the tree holds it, after the rows above:
``convert(raw, tmp/ns1_all.nwb, overwrite=True, all_clusters=True)`` vs a bare ``loadmat`` of the
metadata, every ``cluster.NN.data*.mat`` under ``spikesandwav/`` and every ``clusterquality.mat``,
side by side in the same run. Targets: time <= 2.5x (the whole release's target: run it on a tree made by
``make_release_sized_tree.py``); peak RSS of one all-clusters conversion in a fresh child < 1.5 GB. Its size rows are info. (Off by default: it about doubles the run time.)

    python benchmarks/bench_convert.py [--raw PATH] [--repeats N] [--fresh N] [--all-clusters]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from _common import (
    METADATA_FILE,
    Table,
    bare_loadmat,
    bare_loadmat_all,
    best_of_alternating,
    fmt_bytes,
    fmt_seconds,
    fmt_spread,
    fresh_process_seconds,
    folder_size,
    make_parser,
    parse_args,
    print_header,
    print_warnings,
    release_mat_files,
    timed,
    verdict,
)

TARGET_TIME_RATIO = 4.0
TARGET_ALL_TIME_RATIO = 2.5
TARGET_PEAK_BYTES = 1.5e9
TARGET_SIZE_RATIO = 0.6
HERE = Path(__file__).resolve().parent


def child_peak_rss(code: str) -> tuple[int, str]:
    """Run ``python -c code`` in a fresh process; (its peak RSS in bytes, its output).

    ``os.wait4`` gives the resource usage of exactly that child (Linux ``ru_maxrss`` is in kB).
    Exits 1 with the child's output if it fails.
    """
    with tempfile.TemporaryFile(mode="w+") as log:
        child = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    if child.returncode != 0:
        print(f"error: child process failed (exit {child.returncode}):\n{code}\n{output}", file=sys.stderr)
        raise SystemExit(1)
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux kB
    return usage.ru_maxrss * scale, output


def convert_child_code(raw: Path, output: Path, all_clusters: bool) -> str:
    """A fresh child's conversion."""
    return (f"import warnings; warnings.simplefilter('ignore')\n"
            f"from ns1nwb import convert\n"
            f"convert({str(raw)!r}, {str(output)!r}, overwrite=True, all_clusters={all_clusters!r})")


def loadmat_child_code(raw: Path, function: str) -> str:
    return (f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
            f"from pathlib import Path; from _common import {function}\n"
            f"{function}(Path({str(raw)!r}))")


#: A new interpreter running the command line as users type it (``ns1nwb convert ...``).
CLI_CODE = "import sys; from ns1nwb.cli import cli; sys.argv[0] = 'ns1nwb'; cli()"


def fresh_times(raw: Path, output: Path, runs: int, all_clusters: bool) -> dict[str, list[float]]:
    """Wall times of ``runs`` new interpreters each: the bare loadmat and ``ns1nwb convert``, alternating."""
    function = "bare_loadmat_all" if all_clusters else "bare_loadmat"
    cli_args = ["convert", raw, output, "--overwrite", *(["--all-clusters"] if all_clusters else [])]
    times: dict[str, list[float]] = {"baseline": [], "ns1nwb": []}
    for _ in range(runs):
        times["baseline"].append(fresh_process_seconds(loadmat_child_code(raw, function)))
        times["ns1nwb"].append(fresh_process_seconds(CLI_CODE, *cli_args))
    output.unlink(missing_ok=True)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--all-clusters", action="store_true",
                        help="also time and measure an all-clusters conversion (every cluster file of the "
                             "tree) against a bare loadmat of the same files; about doubles the run time")
    parser.add_argument("--fresh", type=int, default=3,
                        help="runs of each side in a new interpreter, as users run the command (default: 3; 0 skips)")
    args = parse_args(parser, argv)
    raw = args.raw

    from ns1nwb import convert

    print_header("bench_convert: raw release -> one NWB file", raw, args.repeats)
    clusters, qualities = release_mat_files(raw)
    if args.all_clusters:
        print(f"--all-clusters: {len(clusters)} cluster files and {len(qualities)} clusterquality.mat files "
              f"under spikesandwav/\n")

    with tempfile.TemporaryDirectory(prefix="ns1nwb-bench-") as tmp:
        output = Path(tmp) / "ns1.nwb"
        output_all = Path(tmp) / "ns1_all.nwb"

        # Peak memory first, in fresh children (nothing of this process is inherited).
        import_code = "import ns1nwb, pynwb, scipy.io, h5py"
        peak_convert, _ = child_peak_rss(convert_child_code(raw, Path(tmp) / "ns1_child.nwb", False))
        peak_loadmat, _ = child_peak_rss(loadmat_child_code(raw, "bare_loadmat"))
        peak_imports, _ = child_peak_rss(import_code)
        if args.all_clusters:
            peak_all, _ = child_peak_rss(convert_child_code(raw, Path(tmp) / "ns1_all_child.nwb", True))
            peak_loadmat_all, _ = child_peak_rss(loadmat_child_code(raw, "bare_loadmat_all"))
            (Path(tmp) / "ns1_all_child.nwb").unlink(missing_ok=True)
        # As users run it: a new interpreter per run, imports included.
        if args.fresh > 0:
            fresh = fresh_times(raw, Path(tmp) / "ns1_fresh.nwb", args.fresh, False)
            if args.all_clusters:
                fresh_all = fresh_times(raw, Path(tmp) / "ns1_fresh_all.nwb", args.fresh, True)

        # Warm-up: one untimed run of each side.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            timed(lambda: bare_loadmat(raw))
            _, result = timed(lambda: convert(raw, output, overwrite=True))
        print(result.summary())
        print_warnings(caught, "the warm-up conversion")
        print()

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best = best_of_alternating(
                {"baseline": lambda: bare_loadmat(raw), "ns1nwb": lambda: convert(raw, output, overwrite=True)},
                args.repeats,
            )
        out_size = output.stat().st_size

        if args.all_clusters:
            output.unlink()  # one file at a time on disk
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                timed(lambda: bare_loadmat_all(raw))
                _, result = timed(lambda: convert(raw, output_all, overwrite=True, all_clusters=True))
            print(f"all clusters: {result.summary()}")
            print_warnings(caught, "the warm-up all-clusters conversion")
            print()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                best_all = best_of_alternating(
                    {"baseline": lambda: bare_loadmat_all(raw),
                     "ns1nwb": lambda: convert(raw, output_all, overwrite=True, all_clusters=True)},
                    args.repeats,
                )
            out_all_size = output_all.stat().st_size

    raw_size = folder_size(raw)
    spike_size = folder_size(raw / "spikesandwav") - folder_size(raw / "spikesandwav" / "SH.En.C") \
        + (raw / "MetadataSHEnCneurons.mat").stat().st_size

    table = Table()
    table.add("convert (ns1nwb) vs bare loadmat (baseline)", fmt_seconds(best["baseline"]),
              fmt_seconds(best["ns1nwb"]), f"{best['ns1nwb'] / best['baseline']:.2f}x",
              f"ns1nwb/baseline <= {TARGET_TIME_RATIO:g}", verdict(best["ns1nwb"] <= TARGET_TIME_RATIO * best["baseline"]))
    if args.fresh > 0:
        fresh_rows = [("", fresh, TARGET_TIME_RATIO)]
        if args.all_clusters:
            fresh_rows.append(("all clusters: ", fresh_all, TARGET_ALL_TIME_RATIO))
        for label, times, target in fresh_rows:
            ratio = statistics.median(times["ns1nwb"]) / statistics.median(times["baseline"])
            table.add(f"{label}fresh process: `ns1nwb convert` vs a bare loadmat script (median of {args.fresh})",
                      fmt_spread(times["baseline"]), fmt_spread(times["ns1nwb"]), f"{ratio:.2f}x",
                      f"ns1nwb/baseline <= {target:g}", verdict(ratio <= target))
    table.add("peak RSS of a fresh child: loadmat / convert", fmt_bytes(peak_loadmat), fmt_bytes(peak_convert),
              f"{peak_convert / peak_loadmat:.2f}x", f"ns1nwb < {fmt_bytes(TARGET_PEAK_BYTES)}",
              verdict(peak_convert < TARGET_PEAK_BYTES))
    table.add("(info) peak RSS of a child that only imports", "-", fmt_bytes(peak_imports), "-", "-", "-")
    table.add("output .nwb size vs raw folder size", fmt_bytes(raw_size), fmt_bytes(out_size),
              f"{out_size / raw_size:.2f}", f"<= {TARGET_SIZE_RATIO}", verdict(out_size / raw_size <= TARGET_SIZE_RATIO))
    table.add("(info) vs every .mat file of the tree (no wavs)", fmt_bytes(spike_size), fmt_bytes(out_size),
              f"{out_size / spike_size:.2f}", "-", "-")
    if args.all_clusters:
        n_files = f"{len(clusters)} cluster + {len(qualities)} quality files"
        ratio_all = best_all["ns1nwb"] / best_all["baseline"]
        table.add(f"all clusters: convert vs bare loadmat of metadata + {n_files}",
                  fmt_seconds(best_all["baseline"]), fmt_seconds(best_all["ns1nwb"]), f"{ratio_all:.2f}x",
                  f"ns1nwb/baseline <= {TARGET_ALL_TIME_RATIO:g}", verdict(ratio_all <= TARGET_ALL_TIME_RATIO))
        table.add("all clusters: peak RSS of a fresh child: loadmat / convert", fmt_bytes(peak_loadmat_all),
                  fmt_bytes(peak_all), f"{peak_all / peak_loadmat_all:.2f}x",
                  f"ns1nwb < {fmt_bytes(TARGET_PEAK_BYTES)}", verdict(peak_all < TARGET_PEAK_BYTES))
        mat_size = sum(p.stat().st_size for p in [raw / METADATA_FILE, *clusters, *qualities])
        table.add("(info) all clusters: .nwb size vs raw folder size", fmt_bytes(raw_size), fmt_bytes(out_all_size),
                  f"{out_all_size / raw_size:.2f}", "-", "-")
        table.add("(info) vs the .mat files it reads (no wavs)", fmt_bytes(mat_size), fmt_bytes(out_all_size),
                  f"{out_all_size / mat_size:.2f}", "-", "-")
    print(table.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
