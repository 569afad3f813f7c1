"""deepSTRF users' load: ``ns1nwb.deepstrf.NS1Dataset`` vs deepSTRF's own ``NS1Dataset``, each in a fresh process.

Each run is a fresh ``python -c`` child: it imports deepSTRF (timed alone: both sides pay it), then builds the
dataset. seed: ``deepSTRF.datasets.audio.ns1.NS1Dataset(folder)`` on the raw release (the .mat files; a zero
``test_data_5ms.mat`` stand-in in a scratch folder of links when the tree has none). ns1nwb:
``ns1nwb.deepstrf.NS1Dataset(nwb)`` on the release converted once with ``--audio-rate native`` (untimed; the
ns1nwb import counts in its build). Runs alternate seed / ns1nwb; the median of each is reported, with the
whole child's wall time (interpreter start included). Goal: ns1nwb's time after the deepSTRF import <= 0.3x the
seed's. ``--waveform`` adds the same rows with ``return_waveform=True``. Runs only where deepSTRF is installed:

    /work/deepstrf-venv/bin/python benchmarks/bench_deepstrf.py [--raw PATH] [--repeats N] [--waveform]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _common import METADATA_FILE, SPIKES_DIR, Table, fmt_seconds, make_parser, parse_args, verdict

TARGET_RATIO = 0.3

_CHILD = """
import json, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import deepSTRF.datasets.audio.audio_dataset
imported = time.perf_counter()
if {side!r} == "seed":
    from deepSTRF.datasets.audio.ns1 import NS1Dataset
else:
    from ns1nwb.deepstrf import NS1Dataset
dataset = NS1Dataset({path!r}, return_waveform={waveform!r})
built = time.perf_counter()
print(json.dumps({{"import": imported - start, "build": built - imported, "units": dataset.N_neurons}}))
"""


def _run(side: str, path: Path, waveform: bool) -> dict[str, float]:
    """One fresh child; its import and build times and the whole process's wall time (s)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD.format(side=side, path=str(path), waveform=waveform)],
                          check=False, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(f"error: the {side} child failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        raise SystemExit(1)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def _seed_folder(raw: Path, scratch: Path) -> Path:
    """The raw tree as the seed reads it: links to its files, and a zero spectrogram file if it has none."""
    spectrogram = raw / "test_data_5ms.mat"
    if spectrogram.is_file():
        return raw
    import numpy as np
    import scipy.io as sio

    folder = scratch / "seed"
    folder.mkdir()
    for name in (METADATA_FILE, SPIKES_DIR):
        (folder / name).symlink_to(raw / name)
    sio.savemat(folder / spectrogram.name, {"X_nfht": np.zeros((20, 34, 1, 999))})
    print(f"{raw} has no {spectrogram.name}: the seed reads a zero stand-in (responses and metadata are unchanged)")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--waveform", action="store_true", help="also time return_waveform=True")
    args = parse_args(parser, argv)
    try:
        import deepSTRF  # noqa: F401
    except ImportError as err:
        print(f"error: deepSTRF is not importable here ({err}); run this with the Python of the virtualenv that "
              "has it (README: For deepSTRF users)", file=sys.stderr)
        return 2
    import platform
    from importlib.metadata import version

    import ns1nwb

    print("## bench_deepstrf: a deepSTRF NS1Dataset in a fresh process\n")
    print(f"raw: {args.raw}  ")
    print(f"{args.repeats} alternating runs per side, each a fresh process; the median is compared (baseline = "
          "deepSTRF's own NS1Dataset); OS file cache warm for both sides  ")
    print(f"python {platform.python_version()}, deepstrf {version('deepstrf')}, torch {version('torch')}, "
          f"ns1nwb {ns1nwb.__version__}; {platform.machine()}\n")
    modes = [False, True] if args.waveform else [False]
    with tempfile.TemporaryDirectory(prefix="bench_deepstrf_") as scratch:
        seed_folder = _seed_folder(args.raw, Path(scratch))
        nwb = Path(scratch) / "ns1.nwb"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ns1nwb.convert(args.raw, nwb, audio_rate_hz=None)
        table = Table()
        for waveform in modes:
            runs: dict[str, list[dict[str, float]]] = {"seed": [], "ns1nwb": []}
            for _ in range(args.repeats):
                runs["seed"].append(_run("seed", seed_folder, waveform))
                runs["ns1nwb"].append(_run("ns1nwb", nwb, waveform))
            units = {side: {r["units"] for r in results} for side, results in runs.items()}
            if units["seed"] != units["ns1nwb"]:
                print(f"error: the two sides loaded different units: {units}", file=sys.stderr)
                return 1
            median = {side: {key: statistics.median(r[key] for r in results) for key in ("import", "build", "wall")}
                      for side, results in runs.items()}
            mode = "waveforms" if waveform else "spectrograms"
            for side, results in runs.items():
                print(f"{mode}, {side}: units {sorted(units[side])}; runs (import + build = wall): " + ", ".join(
                    f"{fmt_seconds(r['import'])} + {fmt_seconds(r['build'])} = {fmt_seconds(r['wall'])}"
                    for r in results))
            seed, ours = median["seed"], median["ns1nwb"]
            ratio = ours["build"] / seed["build"]
            table.add(f"{mode}: after the deepSTRF import", fmt_seconds(seed["build"]), fmt_seconds(ours["build"]),
                      f"{ratio:.2f}x", f"<= {TARGET_RATIO}x", verdict(ratio <= TARGET_RATIO))
            table.add(f"{mode}: the deepSTRF import alone", fmt_seconds(seed["import"]), fmt_seconds(ours["import"]),
                      f"{ours['import'] / seed['import']:.2f}x", "info", "info")
            table.add(f"{mode}: whole process (wall)", fmt_seconds(seed["wall"]), fmt_seconds(ours["wall"]),
                      f"{ours['wall'] / seed['wall']:.2f}x", "info", "info")
    print()
    print(table.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
