"""The authors' cochleagram: computing it (from the raw wavs, or from a file at any step) vs reading the stored one.

baseline: reading the 20 stored spectrograms, ``with ns1nwb.open(nwb) as rec: [rec.spectrogram(s) for s in
range(20)]`` (open included), on a file converted once, untimed, with the defaults (waveforms at 48000 Hz; the
shared release has no ``test_data_5ms.mat``, so the stored spectrograms are the cochleagrams the conversion
computed). ns1nwb, two rows:

- the 20 cochleagrams at 5 ms from the raw wavs: ``soundfile.read`` of each wav + ``ns1nwb.cochleagram(samples,
  48828)``, what a conversion without ``test_data_5ms.mat`` does; they must equal the stored ones exactly;
- ``rec.spectrogram(s, dt_ms=10)`` for the 20 sounds (open included): the cochleagram of each stored waveform,
  cut or padded to floor(4995 / 10) = 499 frames.

The ratio is ns1nwb / baseline: what computing costs over reading. No target: an info benchmark.

    python benchmarks/bench_cochleagram.py [--raw PATH] [--repeats N]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from _common import (
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

N_NATURAL = 20
#: What MATLAB's audioread reports for the NS1 wavs, the rate the authors computed at.
WAV_HEADER_RATE_HZ = 48828


def wav_paths(raw: Path) -> list[Path]:
    """The 20 natural-sound wavs in stimulus order (the order ns1nwb's stimulus table gives)."""
    from ns1nwb.constants import STIMULI

    return [raw / SPIKES_DIR / "SH.En.C" / s.wav_name for s in STIMULI[:N_NATURAL]]


def cochleagrams_from_wavs(paths: list[Path]) -> list[np.ndarray]:
    """Read each wav and compute its cochleagram at 5 ms, the authors' way."""
    import soundfile

    import ns1nwb

    out = []
    for path in paths:
        samples, _ = soundfile.read(path, dtype="float32")
        out.append(ns1nwb.cochleagram(samples, WAV_HEADER_RATE_HZ, 5.0))
    return out


def stored(nwb: Path) -> list[np.ndarray]:
    import ns1nwb

    with ns1nwb.open(nwb) as rec:
        return [rec.spectrogram(s) for s in range(N_NATURAL)]


def computed(nwb: Path, dt_ms: float) -> list[np.ndarray]:
    import ns1nwb

    with ns1nwb.open(nwb) as rec:
        return [rec.spectrogram(s, dt_ms=dt_ms) for s in range(N_NATURAL)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(make_parser(__doc__.splitlines()[0]), argv)
    raw = args.raw

    from ns1nwb import convert

    print_header("bench_cochleagram: 20 cochleagrams computed vs the 20 stored", raw, args.repeats)
    paths = wav_paths(raw)
    with tempfile.TemporaryDirectory(prefix="ns1nwb-bench-") as tmp:
        nwb = Path(tmp) / "ns1.nwb"
        seconds, result = timed_recording_warnings(lambda: convert(raw, nwb, overwrite=True), "the conversion")
        print(f"converted once (untimed, {fmt_seconds(seconds)}): {result.summary()}")

        # Warm-up of each side (imports, OS cache) and the arrays to check.
        _, reference = timed(lambda: stored(nwb))
        _, from_wavs = timed(lambda: cochleagrams_from_wavs(paths))
        _, at_10 = timed(lambda: computed(nwb, 10))
        equal = all(np.array_equal(a, b) for a, b in zip(reference, from_wavs))
        shapes_5 = {a.shape for a in from_wavs}
        shapes_10 = {a.shape for a in at_10}
        print(f"stored {reference[0].shape} {reference[0].dtype}; from the wavs {sorted(shapes_5)}, equal to the "
              f"stored: {equal}; rec.spectrogram(s, dt_ms=10) {sorted(shapes_10)}\n")

        best = best_of_alternating({
            "baseline": lambda: stored(nwb),
            "wavs": lambda: cochleagrams_from_wavs(paths),
            "dt10": lambda: computed(nwb, 10),
        }, args.repeats)
        base = best["baseline"]

        table = Table()
        table.add("20 cochleagrams at 5 ms from the raw wavs (read + `cochleagram`)", fmt_seconds(base),
                  fmt_seconds(best["wavs"]), f"{best['wavs'] / base:.1f}x", "-", "-")
        table.add("`rec.spectrogram(s, dt_ms=10)`, 20 sounds (open included)", fmt_seconds(base),
                  fmt_seconds(best["dt10"]), f"{best['dt10'] / base:.1f}x", "-", "-")
        table.add("computed at 5 ms == stored (np.array_equal)", f"{reference[0].shape}", f"{sorted(shapes_5)}",
                  "-", "equal", verdict(equal))
        table.add("shape at dt_ms=10", "-", f"{sorted(shapes_10)}", "-", "(34, 499)",
                  verdict(shapes_10 == {(34, 499)}))
    print("(baseline: `rec.spectrogram(s)` of the 20 stored spectrograms, open included; ratio = ns1nwb / "
          "baseline, what computing costs over reading)\n")
    print(table.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
