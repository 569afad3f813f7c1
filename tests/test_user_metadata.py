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


# --------------------------------------------------------------------------- the schema's answers, row by row
#
# These rows were ``ns1nwb convert --metadata`` runs (tests/test_faults.py); the command line prints the
# MetadataError as its one ``error:`` line, exit 2, before reading the raw tree (checked end to end above).


@pytest.mark.parametrize("text, field, problem", [
    pytest.param("lab: [1, 2]\n", "lab", "is not of type 'string'", id="wrong-type"),
    pytest.param("experimenter: Doe, Jane\n", "experimenter", "is not of type 'array'", id="wrong-type-list"),
    pytest.param("experimenter: [Jane Doe]\n", "experimenter.0", "does not match", id="bad-name"),
    pytest.param("colour: blue\n", "colour", "unknown key", id="unknown-key"),
    pytest.param("subject:\n  eye_colour: blue\n", "eye_colour", "unknown key", id="unknown-subject-key"),
    pytest.param("subject:\n  age: 6 months\n", "subject.age", "ISO 8601", id="bad-iso-age"),
    pytest.param("subjects:\n  exp45: {age: P6X}\n", "subjects.exp45.age", "ISO 8601", id="bad-iso-age-per-subject"),
    pytest.param("subject:\n  sex: X\n", "subject.sex", "is not one of", id="bad-sex"),
    pytest.param("subjects:\n  exp57: {sex: female}\n", "subjects.exp57.sex", "is not one of", id="bad-sex-per-subject"),
    pytest.param("subject:\n  weight: heavy\n", "subject.weight", "does not match", id="bad-weight"),
    pytest.param("session_start_time: yesterday\n", "session_start_time", "date-time", id="bad-date-time"),
    pytest.param("lab: [unclosed\n", "", "not valid YAML", id="not-yaml"),
    pytest.param("\tlab: tabs\n", "", "not valid YAML", id="tab-indent"),
    pytest.param("- a list\n- not a mapping\n", "", "top level must be a mapping", id="top-level-list"),
])
def test_invalid_metadata_names_the_file_and_the_field(tmp_path, text, field, problem):
    metadata = _yaml(tmp_path, text)
    _assert_one_line(metadata, str(metadata), field, problem)


def test_a_missing_metadata_file(tmp_path):
    _assert_one_line(tmp_path / "no-such-meta.yaml", str(tmp_path / "no-such-meta.yaml"), "cannot read metadata file")


def test_metadata_not_utf8(tmp_path):
    metadata = tmp_path / "latin1.yaml"
    metadata.write_bytes("lab: Caf\u00e9 lab\n".encode("latin-1"))
    _assert_one_line(metadata, str(metadata), "not UTF-8")


def test_a_date_time_the_schema_takes_is_a_date_time(tmp_path):
    """RFC 3339 allows a lower-case ``t`` and ``z``: the schema takes it, so the writer must too (the clock's
    start; a conversion with it: tests/nwb/test_convert.py)."""
    from datetime import datetime, timezone

    from ns1nwb.user_metadata import synthetic_clock_start

    metadata = load_metadata(_yaml(tmp_path, 'session_start_time: "2020-01-01t10:00:00z"\n'))
    assert synthetic_clock_start(metadata) == datetime(2020, 1, 1, 10, tzinfo=timezone.utc)


def _assert_one_line(path: Path, *needles: str) -> None:
    with pytest.raises(MetadataError) as caught:
        load_metadata(path)
    message = str(caught.value)
    assert caught.value.exit_code == 2 and "\n" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


# --------------------------------------------------------------------------- issue 25: duplicate and unknown keys


@pytest.mark.parametrize("text, needles", [
    pytest.param("lab: A\nlab: B\n", ["key 'lab' written twice", "lines 1 and 2"], id="top-level"),
    pytest.param("subjects:\n  exp45: {sex: F}\n  exp45: {sex: M}\n", ["key 'exp45'", "lines 2 and 3"],
                 id="subject-id"),
    pytest.param("subject:\n  sex: F\n  age: P8M\n  sex: M\n", ["key 'sex'", "lines 2 and 4"], id="subject-field"),
    pytest.param("subject: {sex: F, sex: M}\n", ["key 'sex'", "(line 1)"], id="flow-mapping"),
    pytest.param("keywords: [a]\nsubjects:\n  exp57:\n    weight: 1 kg\n    weight: 2 kg\n",
                 ["key 'weight'", "lines 4 and 5"], id="per-subject-field"),
    pytest.param("lab: x\ncolour: blue\n", ["(top level): unknown key 'colour' (line 2)"], id="unknown-key"),
    pytest.param("subject:\n  sex: F\n  eye_colour: blue\n", ["subject: unknown key 'eye_colour' (line 3)"],
                 id="unknown-subject-key"),
    pytest.param("subjects:\n  exp45:\n    sex: F\n    sexx: M\n    agee: P1Y\n",
                 ["subjects.exp45: unknown key 'sexx' (line 4)", "subjects.exp45: unknown key 'agee' (line 5)"],
                 id="unknown-per-subject-keys"),
    pytest.param("subjects:\n  exp57: {sex: female}\n", ["subjects.exp57.sex (line 2): 'female' is not one of"],
                 id="a-bad-value-with-its-line"),
])
def test_duplicate_and_unknown_keys_name_the_file_the_key_and_its_line(tmp_path, text, needles):
    """PyYAML keeps the last of two equal keys silently: refused, as the schema refuses an unknown key, in one
    line naming the file, the key and where it is written."""
    metadata = _yaml(tmp_path, text)
    with pytest.raises(MetadataError) as caught:
        load_metadata(metadata)
    message = str(caught.value)
    assert message.startswith(f"{metadata}: ") and "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_a_merge_key_may_be_overridden(tmp_path):
    """``<<: *base`` then a key of the base: YAML's override, not a duplicate."""
    metadata = load_metadata(_yaml(tmp_path, "subjects:\n  exp45: &f {sex: F, age: P8M}\n"
                                             "  exp57:\n    <<: *f\n    sex: M\n"))
    assert metadata["subjects"]["exp57"] == {"sex": "M", "age": "P8M"}


def test_a_subject_id_of_no_ferret_is_refused(tmp_path):
    from ns1nwb.user_metadata import check_subject_ids

    metadata = load_metadata(_yaml(tmp_path, "subjects:\n  exp45: {sex: F}\n  exp54: {sex: M}\n"))
    check_subject_ids(metadata, ["exp45", "exp54"])
    with pytest.raises(MetadataError) as caught:
        check_subject_ids(metadata, ["exp45", "exp57"])
    assert str(caught.value) == (f"{tmp_path / 'meta.yaml'}: subjects.exp54 (line 3) is none of the subjects of this "
                                 "conversion (exp45, exp57); correct the id or remove it")
    check_subject_ids(load_metadata(None), ["exp45"])  # the defaults name no subject


def test_convert_refuses_a_subject_id_of_no_ferret(base_raw, tmp_path):
    """End to end: after reading the tree (its ferrets are exp45 and exp57), before writing anything."""
    metadata = _yaml(tmp_path, "subjects:\n  exp45: {sex: F}\n  exp75: {sex: M}\n")
    out = tmp_path / "ns1.nwb"
    assert_error(convert_cli(base_raw, out, "--metadata", metadata), 2, str(metadata), "subjects.exp75 (line 3)",
                 "exp45, exp57", output=out)
