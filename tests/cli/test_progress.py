"""Progress on a terminal: every bar ends at 100 %, and the build and write of each file say what they do.

The command line shows bars only when stderr is a terminal (``ns1nwb.cli._show_progress``); here it is told
it is one, and the bars land in the runner's stderr. Off a terminal (every other CLI test) stderr has no bar.
"""

from __future__ import annotations

import re

import pytest

from cliharness import convert_cli, let_warnings_through


def _bar_states(stderr: str) -> list[tuple[str, str]]:
    """Every state a bar showed, in order: (its label, the rest of the line); tqdm redraws a bar in place
    with ``\\r``, so the last state of a bar is what stays on the screen."""
    states = []
    for segment in re.split(r"[\r\n]", stderr):
        label, colon, rest = segment.strip().partition(": ")
        if colon and "|" in rest:
            states.append((label, rest))
    return states


@let_warnings_through  # the lean tree has no wavs (faster to write; the audio plays no part here)
@pytest.mark.parametrize("dandi", [False, True], ids=["pooled", "dandi"])
def test_bars_end_at_100_percent_and_name_each_phase(lean_tree, out_dir, monkeypatch, dandi):
    from ns1nwb import cli

    monkeypatch.setattr(cli, "_show_progress", lambda: True)
    output = out_dir / ("dandiset" if dandi else "ns1.nwb")
    result = convert_cli(lean_tree, output, *(["--dandi"] if dandi else []))
    assert result.exit_code == 0, result.stderr
    states = _bar_states(result.stderr)
    reading = [rest for label, rest in states if label == "reading spike files"]
    assert re.match(r"100%\|.*\| 2/2 ", reading[-1]), result.stderr
    names = [p.name for p in output.rglob("*.nwb")] if dandi else [output.name]
    for name in names:  # each file's phases, in order
        assert result.stderr.index(f"building {name}") < result.stderr.index(f"writing {name}"), result.stderr
    label, rest = [state for state in states if state[0] != "reading spike files"][-1]  # the files' bar
    written = re.fullmatch(r"wrote (\S+\.nwb) \(\d[\d,]*\.\d MB\)", label)
    assert written and written[1] in names, label
    assert rest.startswith("100%") and f" {len(names)}/{len(names)} " in rest, rest
