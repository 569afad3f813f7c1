#!/usr/bin/env python
"""Regenerate ``docs/tour.png`` and ``docs/tour.md`` from the synthetic sample data.

Runs the real commands, as a newcomer would, in a temporary folder:
``ns1nwb sample-data raw`` -> ``ns1nwb convert raw ns1.nwb`` -> ``ns1nwb info ns1.nwb``
-> ``ns1nwb plot ns1.nwb ...``, plus the Python snippet of the tour, and writes the
tour with their actual output. No network is used (the download step is shown, not run).

Usage::

    python scripts/make_tour_figure.py            # writes docs/tour.png and docs/tour.md
    python scripts/make_tour_figure.py --check    # also fails if tour.png is 300 KB or more
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: The unit and sound of the figure: a good unit of the default sample (seed 0, 8 units), a ferret call.
UNIT, STIMULUS = 4, "nat04"
MAX_PNG_BYTES = 300_000


def _ns1nwb(*args: str, cwd: Path) -> str:
    """Run ``ns1nwb ARGS`` in ``cwd`` (this interpreter's ns1nwb) and return its stdout."""
    command = [sys.executable, "-c", "from ns1nwb.cli import main; main()", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ns1nwb {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.rstrip()


SNIPPET = """\
import ns1nwb

with ns1nwb.open("ns1.nwb") as rec:
    print(rec)
    print(rec.units[["unit_name", "is_good", "n_spikes"]].head(3))
    grid = rec.response_grid()                      # all units, the 20 natural sounds, 5-ms bins, smoothed
    print(grid.shape, grid.dtype)                   # (units, sounds, repeats, time bins)
    good = rec.response_grid(units=rec.units.is_good)
    print(good.shape)
    print(rec.trial_spike_times_ms(unit=4, stimulus=3, repeat=0)[:5].round(2))
    print(rec.spectrogram(3).shape)                 # (34 bands, 999 frames of 5 ms), dB, as stored
    print(rec.spectrogram(3, dt_ms=10).shape)       # the same cochleagram at 10 ms, to match dt_ms=10 grids
"""


def _run_snippet(cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", SNIPPET], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the tour's Python snippet failed: {done.stderr.strip()}")
    return done.stdout.rstrip()


TOUR = """\
# ns1nwb in five minutes

[NS1](https://osf.io/ayw2p) is a public recording of 119 units in ferret primary auditory cortex, each
hearing 20 natural sounds 20 times (and 12 dynamic random chords 5 times). ns1nwb turns the release into
one [NWB](https://www.nwb.org) file and reads it back as the (units, sounds, repeats, time) response
grid the modelling papers train on. This tour goes from nothing to the figure below.

![unit @UNIT@'s responses to @STIMULUS@: spectrogram, raster of the 20 repeats, PSTH](tour.png)

*Everything on this page was produced by `python scripts/make_tour_figure.py` on the synthetic sample
data (`ns1nwb sample-data`), which has the exact layout of the real release; the real one gives 119
units instead of 8.*

## 1. Install

```bash
python3 -m venv .venv && . .venv/bin/activate
pip install "ns1nwb[plot]"          # [plot] adds matplotlib for `ns1nwb plot`
```

## 2. Get the data

The real release (about 160 MB, from OSF; `--with-spectrogram` adds the published spectrograms from the
DNet repository):

```bash
ns1nwb download NS1 --with-spectrogram
```

It shows a progress bar, retries a broken transfer twice, leaves nothing behind when it fails, and does
nothing on a second run (each file's SHA-256 is kept in `NS1/ns1nwb-sha256.txt` and checked). `spikesandwav.zip` is unpacked
into `NS1/spikesandwav/`. Offline, or just trying things out? Make a synthetic release instead:

```console
$ ns1nwb sample-data raw
@SAMPLE-DATA@
```

## 3. Convert it to NWB

```console
$ ns1nwb convert raw ns1.nwb
@CONVERT@
```

(For the real release: `ns1nwb convert NS1 ns1.nwb`; about 10 s. `--dandi` writes one file per
recording block in DANDI's layout instead.)

## 4. See what is inside

```console
$ ns1nwb info ns1.nwb
@INFO@
```

The inspector's suggestions are advice for a DANDI upload (`ns1nwb inspect` lists them all); a
CRITICAL finding would make `ns1nwb inspect` exit with 1.

## 5. Look at one unit

```console
$ ns1nwb plot ns1.nwb --unit @UNIT@ --stimulus @STIMULUS@ -o tour.png
@PLOT@
```

`--unit` takes an index or a `unit_name` (e.g. `exp45_1x32/P04-SH.En.C.U/cluster.16.data`), `--stimulus`
an index 0-31 or a name (`nat01`..`nat20`, `drc01`..`drc12`). Top: the sound's cochleagram in dB, the
'spec-log' recipe the NS1 papers fed their models (Rahman et al. 2019, 2020: 34 triangular bands with centres
1/6 octave apart from 500 Hz, log frequency axis, 5-ms frames; `ns1nwb.cochleagram` computes it). Middle:
the unit's spikes on every repeat, in ms after sound onset. Bottom: the PSTH, the mean over repeats of the
response grid in spikes/s (5-ms bins smoothed with the papers' 21-ms Hanning window).

## 6. Use it from Python

```python
@SNIPPET@
```

```text
@PYTHON@
```

`response_grid` is value for value the grid of the deepSTRF `NS1Dataset`: spike times rounded to the ms,
one count per ms, summed in 5-ms bins, smoothed. `spectrogram(s)` is what the file stores (the published
spectrograms when `test_data_5ms.mat` was there); `spectrogram(s, dt_ms=d)` computes the same cochleagram
from the stored waveform with floor(4995 / d) frames, bin for bin with `response_grid(dt_ms=d)`.
`ns1nwb.open` also takes a folder of per-session files (`--dandi` output) or an `https://` URL (with
`pip install "ns1nwb[remote]"`). The same file opens in other tools: `pynwb`, SpikeInterface
(`spikeinterface.extractors.read_nwb_sorting(path, sampling_frequency=24414.0625)`) and neo (`rec.to_neo()`).

## Where next

- [README](../README.md): what is in the file, the time base, DANDI upload.
- `ns1nwb COMMAND --help` for every option.
"""


def _tour(outputs: dict[str, str]) -> str:
    text = TOUR.replace("@UNIT@", str(UNIT)).replace("@STIMULUS@", STIMULUS).replace("@SNIPPET@", SNIPPET.rstrip())
    for key in ("sample-data", "convert", "info", "plot", "python"):
        text = text.replace(f"@{key.upper()}@", outputs[key])
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the PNG is 300 KB or more")
    args = parser.parse_args()
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ns1nwb-tour-") as tmp:
        work = Path(tmp)
        outputs = {
            "sample-data": _ns1nwb("sample-data", "raw", cwd=work),
            "convert": _ns1nwb("convert", "raw", "ns1.nwb", cwd=work),
            "info": _ns1nwb("info", "ns1.nwb", cwd=work),
            "plot": _ns1nwb("plot", "ns1.nwb", "--unit", str(UNIT), "--stimulus", STIMULUS, "-o", "tour.png",
                            cwd=work),
            "python": _run_snippet(work),
        }
        png = (work / "tour.png").read_bytes()
    (DOCS / "tour.png").write_bytes(png)
    (DOCS / "tour.md").write_text(_tour(outputs))
    print(f"wrote {DOCS / 'tour.png'} ({len(png) / 1000:.0f} KB) and {DOCS / 'tour.md'}")
    if args.check and len(png) >= MAX_PNG_BYTES:
        raise SystemExit(f"docs/tour.png is {len(png):,} bytes; keep it under {MAX_PNG_BYTES:,}")


if __name__ == "__main__":
    main()
