#!/usr/bin/env python
"""Regenerate ``docs/tour.md`` and ``docs/tour.png`` from the synthetic sample data.

Runs the tour's commands (every ``$ ns1nwb ...`` line of :data:`TOUR`) and its Python snippet in a temporary
folder, as a newcomer would, and writes the tour with their actual output. No network is used: the install and
download steps are shown, not run. ``tests/test_docs.py`` runs the same commands and fails when the committed
``docs/tour.md`` differs from what this script writes now.

Usage::

    python scripts/make_tour.py            # writes docs/tour.md and docs/tour.png
    python scripts/make_tour.py --check    # writes nothing; fails if docs/tour.md is stale or tour.png >= 300 KB
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: The unit and sound of the figure: a good unit of the default sample (seed 0, 8 units), a ferret call.
UNIT, STIMULUS = 4, "nat04"
FIGURE = "unit4.png"
MAX_PNG_BYTES = 300_000

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

#: The tour. Each ``$ ns1nwb ...`` line is run in order in one folder and the ``@OUTPUT@`` under it becomes its
#: output; ``@PYTHON@`` is the output of ``@SNIPPET@``. A block after ``<!-- not run: why -->`` is shown only.
TOUR = """\
# ns1nwb in five minutes

[NS1](https://osf.io/ayw2p) is a public recording of 119 units in ferret primary auditory cortex, each
hearing 20 natural sounds 20 times (and 12 dynamic random chords 5 times). ns1nwb turns the release into
one [NWB](https://www.nwb.org) file and reads it back as the (units, sounds, repeats, time) response
grid the modelling papers train on. This tour goes from nothing to the figure below.

![unit @UNIT@'s responses to @STIMULUS@: spectrogram, raster of the 20 repeats, PSTH](tour.png)

*Everything on this page was produced by `python scripts/make_tour.py` on the synthetic sample
data (`ns1nwb sample-data`), which has the exact layout of the real release; the real one gives 119
units instead of 8. The test suite runs every command of this page and checks its output.*

## 1. Install

ns1nwb is not on a package registry: install it from its clone (the folder with `pyproject.toml`).

<!-- not run: installs ns1nwb's dependencies from the package registry -->
```bash
python3 -m venv .venv && . .venv/bin/activate
pip install ".[plot]"               # [plot] adds matplotlib for `ns1nwb plot`
```

## 2. Get the data

The real release (about 160 MB, from OSF; `--with-spectrogram` adds the published spectrograms from the
DNet repository):

<!-- not run: needs the network (OSF and GitHub) -->
```bash
ns1nwb download NS1 --with-spectrogram
```

It shows a progress bar, retries a broken transfer twice, leaves nothing behind when it fails, and does
nothing on a second run (each file's SHA-256 is kept in `NS1/ns1nwb-sha256.txt` and checked). `spikesandwav.zip` is unpacked
into `NS1/spikesandwav/`. Offline, or just trying things out? Make a synthetic release instead:

```console
$ ns1nwb sample-data raw
@OUTPUT@
```

## 3. Convert it to NWB

```console
$ ns1nwb convert raw ns1.nwb
@OUTPUT@
```

(For the real release: `ns1nwb convert NS1 ns1.nwb`; about 10 s, with a progress bar per phase on a terminal.
`--dandi` writes one file per recording block in DANDI's layout instead.)

The recording blocks were recorded months apart, so this one file lays them end to end, 60 s apart, each
keeping its exact internal timing: a *pooled timeline, not a real clock*. Each presentation's true time is
in `trials.onset_wall_clock`; the per-session files of `--dandi` keep the true clock.

## 4. See what is inside

```console
$ ns1nwb info ns1.nwb
@OUTPUT@
```

The inspector's suggestions are advice for a DANDI upload (`ns1nwb inspect` lists them all); a
CRITICAL finding would make `ns1nwb inspect` exit with 1.

## 5. Look at one unit

```console
$ ns1nwb plot ns1.nwb --unit @UNIT@ --stimulus @STIMULUS@ -o @FIGURE@
@OUTPUT@
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
`ns1nwb.open` also takes a folder of per-session files (`--dandi` output) or an `https://` URL (nothing extra
to install). The same file opens in other tools: `pynwb`, pynapple
(`nap.load_file`), SpikeInterface (`spikeinterface.extractors.read_nwb_sorting(path,
sampling_frequency=24414.0625)`) and neo (`rec.to_neo()`, with `pip install ".[neo]"`): see the README's
"Works with the tools you use".

## Where next

- [README](../README.md): what is in the file, the time base, DANDI upload.
- `ns1nwb COMMAND --help` for every option.
"""


def commands() -> list[str]:
    """The tour's command lines (``ns1nwb ...``), in order."""
    return [line[2:] for line in _filled_template().splitlines() if line.startswith("$ ")]


def _filled_template() -> str:
    return (TOUR.replace("@UNIT@", str(UNIT)).replace("@STIMULUS@", STIMULUS).replace("@FIGURE@", FIGURE)
            .replace("@SNIPPET@", SNIPPET.rstrip()))


@contextlib.contextmanager
def _working_directory(folder: Path):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def run_command(folder: Path, command: str) -> str:
    """Run the command line ``ns1nwb ...`` in ``folder`` (ns1nwb's command line, in this process) and return
    what it printed on stdout; a failure raises with what it printed."""
    from click.testing import CliRunner

    from ns1nwb.cli import cli

    argv = shlex.split(command)
    if argv[0] != "ns1nwb":
        raise ValueError(f"{command!r}: not an ns1nwb command")
    with _working_directory(folder):
        result = CliRunner().invoke(cli, argv[1:])
    if result.exit_code != 0:
        raise RuntimeError(f"{command} failed (exit {result.exit_code}):\n{result.stdout}{result.stderr}")
    return result.stdout


def run_python(folder: Path, code: str) -> str:
    """Run ``code`` in ``folder`` (in this process, a fresh namespace) and return what it printed."""
    out = io.StringIO()
    with _working_directory(folder), contextlib.redirect_stdout(out):
        exec(compile(code, "<docs>", "exec"), {"__name__": "__main__"})
    return out.getvalue()


def run_tour(folder: Path, done: dict[str, str] | None = None) -> dict[str, str]:
    """Run the tour in ``folder``: command line -> its stdout, and ``"python"`` -> the snippet's output.

    ``done``: commands already run in ``folder`` (or in a folder it links to) and their output; they are not
    run again (the tests' shared sample made ``raw`` and ``ns1.nwb`` that way).
    """
    outputs = dict(done or {})
    for command in commands():
        if command not in outputs:
            outputs[command] = run_command(folder, command)
    outputs["python"] = run_python(folder, SNIPPET)
    return outputs


def render(outputs: dict[str, str]) -> str:
    """The tour's text with ``outputs`` (from :func:`run_tour`) in place."""
    lines, command = [], None
    for line in _filled_template().splitlines():
        if line.startswith("$ "):
            command = line[2:]
        if line == "@OUTPUT@":
            line = outputs[command].rstrip()
        elif line == "@PYTHON@":
            line = outputs["python"].rstrip()
        lines.append(line)
    return "\n".join(lines) + "\n"


def normalised(text: str) -> str:
    """``text`` without what varies between machines and releases: version numbers."""
    text = re.sub(r"\bns1nwb \d+\.\d+[\w.+-]*", "ns1nwb <version>", text)
    return re.sub(r"\bNWB \d+\.\d+\.\d+", "NWB <version>", text)


def stale_lines(committed: str, current: str) -> list[str]:
    """A unified diff of the two texts, normalised; empty when the committed text is current."""
    return list(difflib.unified_diff(normalised(committed).splitlines(), normalised(current).splitlines(),
                                     "docs/tour.md (committed)", "docs/tour.md (made now)", lineterm=""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; fail if docs/tour.md is stale or docs/tour.png is 300 KB or more")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ns1nwb-tour-") as tmp:
        text = render(run_tour(Path(tmp)))
        png = (Path(tmp) / FIGURE).read_bytes()
    if args.check:
        diff = stale_lines((DOCS / "tour.md").read_text(encoding="utf-8"), text)
        if diff:
            raise SystemExit("docs/tour.md is stale (run python scripts/make_tour.py):\n" + "\n".join(diff))
        if (DOCS / "tour.png").stat().st_size >= MAX_PNG_BYTES:
            raise SystemExit(f"docs/tour.png is {(DOCS / 'tour.png').stat().st_size:,} bytes; keep it under "
                             f"{MAX_PNG_BYTES:,}")
        print("docs/tour.md is current")
        return
    if len(png) >= MAX_PNG_BYTES:
        raise SystemExit(f"the figure is {len(png):,} bytes; keep it under {MAX_PNG_BYTES:,}")
    DOCS.mkdir(exist_ok=True)
    (DOCS / "tour.png").write_bytes(png)
    (DOCS / "tour.md").write_text(text, encoding="utf-8")
    print(f"wrote {DOCS / 'tour.png'} ({len(png) / 1000:.0f} KB) and {DOCS / 'tour.md'}")


if __name__ == "__main__":
    sys.exit(main())
