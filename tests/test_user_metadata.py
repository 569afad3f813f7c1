"""Issue 16, the ``--metadata`` YAML: loaded safely and bounded (aliases, recursion, depth), impossible dates and
text HDF5 cannot store refused with the field named, all before any conversion work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ns1nwb.exceptions import MetadataError
from ns1nwb.user_metadata import load_metadata, validate_metadata
from cliharness import assert_error, convert_cli

#: 342 bytes that expand to 9^9 strings (the "billion laughs").
ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{x}: &{x} [{','.join(['*' + p] * 9)}]" for p, x in zip("abcdefgh", "bcdefghi")]
) + "\nlab: *i\n"


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "meta.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, needles", [
    pytest.param(ALIAS_BOMB, ["more than 10,000 values", "aliases"], id="alias-bomb"),
    pytest.param("subject: &s {description: *s}\n", ["subject.description", "recursive"], id="recursive-mapping"),
    pytest.param("keywords: &k [a, *k]\n", ["keywords.1", "recursive"], id="recursive-list"),
    pytest.param("keywords: " + "[" * 60 + "]" * 60 + "\n", ["nested"], id="deep"),
    pytest.param("subject:\n  date_of_birth: 2012-02-30\n", ["subject.date_of_birth", "2012-02-30"],
                 id="impossible-date"),
    pytest.param("subjects:\n  exp45: {date_of_birth: !!timestamp 2012-13-01}\n",
                 ["subjects.exp45.date_of_birth", "2012-13-01"], id="impossible-date-tagged"),
    pytest.param('lab: "Auditory\\0Lab"\n', ["lab", "NUL"], id="nul"),
    pytest.param('experimenter: ["Doe, \\ud800Jane"]\n', ["experimenter.0", "surrogate", "U+D800"], id="surrogate"),
    pytest.param('subjects:\n  "exp\\ud800": {sex: F}\n', ["subjects.exp\\ud800 (the key)", "surrogate"],
                 id="surrogate-in-a-key"),
    pytest.param('subjects:\n  "exp\\0": {sex: F}\n', ["subjects.exp\\x00 (the key)", "NUL"], id="nul-in-a-key"),
])
def test_bad_metadata_is_refused_before_any_work(tmp_path, text, needles):
    """Exit 2, one line naming the file and the field, within seconds; the raw folder is never looked at
    (it does not exist: its error would come first otherwise)."""
    metadata = _yaml(tmp_path, text)
    out = tmp_path / "ns1.nwb"
    started = time.monotonic()
    result = convert_cli(tmp_path / "no-such-release", out, "--metadata", metadata)
    assert time.monotonic() - started < 20
    line = assert_error(result, 2, str(metadata), output=out)
    for needle in needles:
        assert needle in line, line
    assert "no-such-release" not in line


def test_alias_bomb_is_fast(tmp_path):
    started = time.monotonic()
    with pytest.raises(MetadataError, match="more than 10,000 values"):
        load_metadata(_yaml(tmp_path, ALIAS_BOMB))
    assert time.monotonic() - started < 2


def test_a_few_aliases_are_fine(tmp_path):
    metadata = load_metadata(_yaml(tmp_path, "subjects:\n  exp45: &ferret {sex: F, age: P8M}\n  exp57: *ferret\n"))
    assert metadata["subjects"]["exp45"] == metadata["subjects"]["exp57"] == {"sex": "F", "age": "P8M"}


def test_dates_keep_their_text(tmp_path):
    """Unquoted dates and date-times stay as written (YAML would make objects of them, or crash on an
    impossible one); the schema and the writer read the text."""
    metadata = load_metadata(_yaml(tmp_path, "session_start_time: 2020-01-01T10:00:00Z\n"
                                             "subject: {date_of_birth: 2012-02-29}\n"))
    assert metadata["session_start_time"] == "2020-01-01T10:00:00Z"
    assert metadata["subject"]["date_of_birth"] == "2012-02-29"


@pytest.mark.parametrize("value, needle", [("a\x00b", "NUL"), ("a\udc80b", "surrogate")])
def test_validate_metadata_checks_text(value, needle):
    with pytest.raises(MetadataError, match=needle) as caught:
        validate_metadata({"subject": {"description": value}}, "api")
    assert "subject.description" in str(caught.value)
