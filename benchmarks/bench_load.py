"""Reading the raw release: ``ns1nwb.read_raw_tree`` vs a bare ``scipy.io.loadmat`` of the same files.

baseline: ``loadmat`` of ``MetadataSHEnCneurons.mat`` and of the 119 spike files it lists
(default options, nothing else). ns1nwb: ``ns1nwb.read_raw_tree(raw)``, which also parses
every field into plain Python objects, checks the values, hashes every file and reads the 20 wavs.
Both run on one core. Target: ns1nwb / baseline <= 1.3.

    python benchmarks/bench_load.py [--raw PATH] [--repeats N]
"""

from __future__ import annotations

import warnings

from _common import (
    Table,
    bare_loadmat,
    best_of_alternating,
    fmt_seconds,
    make_parser,
    parse_args,
    print_header,
    print_warnings,
    timed,
    verdict,
)

TARGET_RATIO = 1.3


def main(argv: list[str] | None = None) -> int:
    args = parse_args(make_parser(__doc__.splitlines()[0]), argv)
    raw = args.raw

    import ns1nwb

    print_header("bench_load: read the raw release", raw, args.repeats)

    # One untimed run of each side: lazy imports (scipy.io, soundfile) are excluded from both.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, (neurons, loaded) = timed(lambda: bare_loadmat(raw))
        _, release = timed(lambda: ns1nwb.read_raw_tree(raw))
    n_files = len(loaded)
    print(f"{len(neurons)} metadata rows, {n_files} spike files loaded; read_raw_tree: {release.summary()}")
    print_warnings(caught, "the warm-up")
    print()
    del loaded, release

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = best_of_alternating(
            {"baseline": lambda: bare_loadmat(raw), "ns1nwb": lambda: ns1nwb.read_raw_tree(raw)},
            args.repeats,
        )
        wav_seconds = min(timed(lambda: _read_wavs(raw))[0] for _ in range(args.repeats))

    ratio = best["ns1nwb"] / best["baseline"]
    table = Table()
    table.add(f"load metadata + {n_files} spike files", fmt_seconds(best["baseline"]), fmt_seconds(best["ns1nwb"]),
              f"{ratio:.3f}x", f"ns1nwb/baseline <= {TARGET_RATIO}", verdict(ratio <= TARGET_RATIO))
    table.add("(info) of which the 20 wavs (soundfile.read)", "-", fmt_seconds(wav_seconds),
              f"{wav_seconds / best['ns1nwb']:.1%} of ns1nwb", "-", "-")
    print(table.render())
    return 0


def _read_wavs(raw) -> list:
    """The part of read_raw_tree the baseline does not do: reading the 20 natural-sound wavs."""
    import soundfile

    return [soundfile.read(p, dtype="float32", always_2d=True)
            for p in sorted((raw / "spikesandwav" / "SH.En.C").iterdir()) if p.is_file()]


if __name__ == "__main__":
    raise SystemExit(main())
