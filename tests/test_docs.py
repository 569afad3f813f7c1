"""The docs run: every code block of README.md and docs/tour.md is run on the built-in sample, and the tour
shows what its commands print today.

A block that cannot run offline (a download, an install from a registry, the real release) follows a visible
``<!-- not run: why -->`` line; every other ``bash``, ``console`` and ``python`` block runs, in one folder per
run, in document order, as a reader would run them: ``ns1nwb`` command lines by the command line in-process,
Python in this process. The sample's first steps (``ns1nwb sample-data raw``, ``ns1nwb convert raw ns1.nwb``)
ran once for the whole suite (``sample_workspace`` in conftest.py); a command line already run in the folder
is not run again.
"""

from __future__ import annotations

import gc
import importlib.util
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from cliharness import run_in

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", ROOT / "docs" / "tour.md")
#: Languages of blocks that are data, not run (the expected output of a run, a metadata file).
SHOWN = ("text", "yaml")
RUN = ("bash", "console", "python")
NOT_RUN = re.compile(r"^<!-- not run: (?P<why>\S.*?) -->$")


def _make_tour():
    spec = importlib.util.spec_from_file_location("make_tour", ROOT / "scripts" / "make_tour.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_tour = _make_tour()


@dataclass
class Block:
    where: str  # file:line of the opening fence
    language: str
    code: str
    not_run: str | None  # why, from the marker line just above it


def code_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``; a ``<!-- not run: why -->`` line marks the block right below it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start, language = i, lines[i][3:].strip()
            i += 1
            while not lines[i].startswith("```"):
                i += 1
            marker = NOT_RUN.match(lines[start - 1]) if start else None
            blocks.append(Block(f"{path.name}:{start + 1}", language, "\n".join(lines[start + 1:i]) + "\n",
                                marker["why"] if marker else None))
        elif lines[i].startswith("<!-- not run") and not (i + 1 < len(lines) and lines[i + 1].startswith("```")):
            raise AssertionError(f"{path.name}:{i + 1}: a 'not run' marker goes on the line right above its block")
        i += 1
    return blocks


def shell_commands(block: Block) -> list[str]:
    """The command lines of a bash block (``&&`` splits them; comments go), or the ``$`` lines of a console
    block; each as shlex gives it back, so that spacing does not matter."""
    if block.language == "console":
        lines = [line[2:] for line in block.code.splitlines() if line.startswith("$ ")]
    else:
        lines = block.code.splitlines()
    found = []
    for line in lines:
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            found.append(shlex.join(words[:cut]))
            words = words[cut + 1:]
    return found


@pytest.fixture(scope="module")
def docs_folder(sample_workspace, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The folder the docs run in: the shared sample's ``raw`` and ``ns1.nwb`` (links), and the tour run in it.
    (The folder, each command line or Python block run -> what it printed.)"""
    shared, printed = sample_workspace
    folder = tmp_path_factory.mktemp("docs")
    for name in ("raw", "ns1.nwb"):
        (folder / name).symlink_to(shared / name)
    outputs = make_tour.run_tour(folder, done=printed)
    outputs[make_tour.SNIPPET] = outputs["python"]
    return folder, outputs


def test_the_tour_shows_what_its_commands_print_now(docs_folder):
    committed = (ROOT / "docs" / "tour.md").read_text(encoding="utf-8")
    diff = make_tour.stale_lines(committed, make_tour.render(docs_folder[1]))
    assert not diff, "docs/tour.md is stale: run python scripts/make_tour.py\n" + "\n".join(diff[:60])


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_code_block_runs(doc, docs_folder):
    folder, outputs = docs_folder
    ran, marked = [], []
    for block in code_blocks(doc):
        assert block.language in RUN + SHOWN, f"{block.where}: tag the block with one of {RUN + SHOWN}"
        if block.language in SHOWN:
            assert block.not_run is None, f"{block.where}: a {block.language} block is never run; drop the marker"
            continue
        if block.not_run is not None:
            marked.append(block.where)
            continue
        if block.language == "python":
            if block.code not in outputs:
                outputs[block.code] = make_tour.run_python(folder, block.code)
                gc.collect()  # what the block dropped (a reader's open file) is closed here, on this thread
        else:
            for command in shell_commands(block):
                assert command.startswith("ns1nwb "), (
                    f"{block.where}: {command!r} cannot run offline here; mark its block <!-- not run: why -->")
                if command not in outputs:
                    outputs[command] = run_in(folder, command)
        ran.append(block.where)
    assert ran, f"{doc.name}: no block ran"
    assert len(ran) + len(marked) == len([b for b in code_blocks(doc) if b.language in RUN])


def test_installs_are_from_the_clone():
    """ns1nwb is on no registry: `pip install "ns1nwb[plot]"` fails; the docs install extras from the clone."""
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        assert not re.search(r"pip install [\"']?ns1nwb\b", text), doc.name
        assert 'pip install ".[neo]"' in text and 'pip install ".[plot]"' in text, doc.name


@pytest.mark.parametrize("line, commands", [
    ("ns1nwb sample-data raw && ns1nwb convert raw ns1.nwb", ["ns1nwb sample-data raw", "ns1nwb convert raw ns1.nwb"]),
    ("ns1nwb info  ns1.nwb      # units, blocks", ["ns1nwb info ns1.nwb"]),
    ("# a comment only", []),
    ("pip install \".[plot]\"", ["pip install '.[plot]'"]),
])
def test_shell_commands_of_a_line(line, commands):
    assert shell_commands(Block("x:1", "bash", line + "\n", None)) == commands


def test_a_misplaced_marker_is_refused(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- not run: needs the network -->\n\n```bash\nns1nwb download NS1\n```\n")
    with pytest.raises(AssertionError, match="right above its block"):
        code_blocks(doc)
    doc.write_text("<!-- not run: needs the network -->\n```bash\nns1nwb download NS1\n```\n```python\nx = 1\n```\n")
    assert [(b.language, b.not_run) for b in code_blocks(doc)] == [("bash", "needs the network"), ("python", None)]
