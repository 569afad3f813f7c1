"""Converting the raw release to NWB: time, peak memory and output size.

- time: ``ns1nwb.nwb_writer.convert(raw, tmp/ns1.nwb, overwrite=True)`` vs the bare
  ``scipy.io.loadmat`` of the metadata and the 119 spike files, in this process, after one
  untimed run of each (imports excluded from both). Target <= 2x. ns1nwb uses the machine's
  cores (``NS1NWB_WORKERS``, at most 4); an info row repeats it on one core.
- peak memory: the maximum resident set size of one fresh child ``python -c`` doing one
  conversion (and, for scale, of one doing the bare loadmat). Target < 1.5 GB. The largest single
  process of the tree (the converter; its reader workers and writer child are smaller).
- size: the written ``.nwb`` vs the raw folder (sum of its file sizes). Target <= 0.6.

    python benchmarks/bench_convert.py [--raw PATH] [--repeats N]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from _common import (
    Table,
    bare_loadmat,
    best_of_alternating,
    fmt_bytes,
    fmt_seconds,
    folder_size,
    make_parser,
    one_worker_best,
    parse_args,
    print_header,
    print_warnings,
    timed,
    verdict,
)

TARGET_TIME_RATIO = 2.0
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(make_parser(__doc__.splitlines()[0]), argv)
    raw = args.raw

    from ns1nwb import convert

    print_header("bench_convert: raw release -> one NWB file", raw, args.repeats)

    with tempfile.TemporaryDirectory(prefix="ns1nwb-bench-") as tmp:
        output = Path(tmp) / "ns1.nwb"

        # Peak memory first, in fresh children (nothing of this process is inherited).
        convert_code = (f"import warnings; warnings.simplefilter('ignore')\n"
                        f"from ns1nwb import convert\n"
                        f"convert({str(raw)!r}, {str(Path(tmp) / 'ns1_child.nwb')!r}, overwrite=True)")
        loadmat_code = (f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
                        f"from pathlib import Path; from _common import bare_loadmat\n"
                        f"bare_loadmat(Path({str(raw)!r}))")
        import_code = "import ns1nwb, ns1nwb.nwb_writer, pynwb, scipy.io, h5py"
        peak_convert, _ = child_peak_rss(convert_code)
        peak_loadmat, _ = child_peak_rss(loadmat_code)
        peak_imports, _ = child_peak_rss(import_code)

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
            one_core = one_worker_best(lambda: convert(raw, output, overwrite=True), args.repeats)
        out_size = output.stat().st_size

    raw_size = folder_size(raw)
    spike_size = folder_size(raw / "spikesandwav") - folder_size(raw / "spikesandwav" / "SH.En.C") \
        + (raw / "MetadataSHEnCneurons.mat").stat().st_size

    table = Table()
    table.add("convert (ns1nwb) vs bare loadmat (baseline)", fmt_seconds(best["baseline"]),
              fmt_seconds(best["ns1nwb"]), f"{best['ns1nwb'] / best['baseline']:.2f}x",
              f"ns1nwb/baseline <= {TARGET_TIME_RATIO:g}", verdict(best["ns1nwb"] <= TARGET_TIME_RATIO * best["baseline"]))
    table.add("(info) convert with NS1NWB_WORKERS=1 (one core)", fmt_seconds(best["baseline"]),
              fmt_seconds(one_core), f"{one_core / best['baseline']:.2f}x", "-", "-")
    table.add("peak RSS of a fresh child: loadmat / convert", fmt_bytes(peak_loadmat), fmt_bytes(peak_convert),
              f"{peak_convert / peak_loadmat:.2f}x", f"ns1nwb < {fmt_bytes(TARGET_PEAK_BYTES)}",
              verdict(peak_convert < TARGET_PEAK_BYTES))
    table.add("(info) peak RSS of a child that only imports", "-", fmt_bytes(peak_imports), "-", "-", "-")
    table.add("output .nwb size vs raw folder size", fmt_bytes(raw_size), fmt_bytes(out_size),
              f"{out_size / raw_size:.2f}", f"<= {TARGET_SIZE_RATIO}", verdict(out_size / raw_size <= TARGET_SIZE_RATIO))
    table.add("(info) vs the .mat files only (no wavs)", fmt_bytes(spike_size), fmt_bytes(out_size),
              f"{out_size / spike_size:.2f}", "-", "-")
    print(table.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
