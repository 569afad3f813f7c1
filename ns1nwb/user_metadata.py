"""The user's metadata: the ``--metadata FILE.yaml`` of ``convert``, checked against its JSON Schema.

The schema and the defaults are data files in ``schemas/`` (shipped as the
``ns1nwb.schemas`` package); this module only loads, validates and merges them.
The columns of the NWB tables are :mod:`ns1nwb.nwb.columns`'.
"""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .exceptions import MetadataError

__all__ = ["load_metadata", "validate_metadata", "check_subject_ids", "metadata_schema", "subject_metadata",
           "synthetic_clock_start",
           "parse_datetime", "species_url", "publication_url", "FERRET_TAXON_URL"]


#: Subject fields the papers do not give per animal; the CLI names those left at their defaults.
SUBJECT_FIELDS_TO_FILL = ("sex", "age", "weight", "description")


#: The domestic ferret's NCBI taxon, written as DANDI reads it: DANDI maps a Latin name by prefix, and
#: "Mustela putorius furo" starts with "Mus" (it becomes Mus musculus).
FERRET_TAXON_URL = "http://purl.obolibrary.org/obo/NCBITaxon_9669"
#: Names of the domestic ferret (lower case, single spaces) that mean FERRET_TAXON_URL.
FERRET_NAMES = ("ferret", "domestic ferret", "mustela putorius furo", "mustela furo")
_TAXON = re.compile(r"(?:https?://purl\.obolibrary\.org/obo/NCBITaxon_|NCBITaxon:)(\d+)/?", re.IGNORECASE)


def species_url(text: str, where: str = "subject.species") -> str:
    """The NCBI taxon URL of a species given as a name of the ferret or as an NCBI taxon URL or CURIE.

    Raises
    ------
    MetadataError
        ``text`` is neither (the message starts with ``where``).
    """
    match = _TAXON.fullmatch(text.strip())
    if match:
        return f"http://purl.obolibrary.org/obo/NCBITaxon_{match[1]}"
    if " ".join(text.lower().split()) in FERRET_NAMES:
        return FERRET_TAXON_URL
    raise MetadataError(f"{where}: {text!r} is neither a name of the ferret (ferret, Mustela putorius furo) nor an "
                        f"NCBI taxon URL such as {FERRET_TAXON_URL}")


def publication_url(text: str) -> str:
    """``doi:10...`` as ``https://doi.org/10...`` (DANDI keeps only doi.org URLs as related resources);
    other references as given."""
    return "https://doi.org/" + text[4:].strip() if text.lower().startswith("doi:") else text


def schema_text(name: str) -> str:
    """A file of ``schemas/``: the repository folder in a source checkout (an editable install included,
    whose package data may point at another checkout), else the installed package data."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "schemas" / name).is_file():
        return (checkout / "schemas" / name).read_text(encoding="utf-8")
    return resources.files("ns1nwb.schemas").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def metadata_schema() -> dict[str, Any]:
    """The draft-07 JSON Schema of the metadata file."""
    return json.loads(schema_text("metadata.schema.json"))


@lru_cache(maxsize=None)
def _defaults() -> dict[str, Any]:
    return yaml.safe_load(schema_text("default_metadata.yaml"))


def _error_location(error: Any) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


#: Most values (mappings, lists, scalars; an alias counts as a copy of what it names) a metadata file may
#: hold: a real one has about 50, and a few hundred bytes of nested aliases expand to billions.
MAX_METADATA_VALUES = 10_000
#: Deepest nesting of a metadata file (a real one has 3 levels).
MAX_METADATA_DEPTH = 20


class _DuplicateKey(yaml.YAMLError):
    """A key written twice in one mapping (PyYAML keeps the last value silently)."""

    def __init__(self, key: Any, first_line: int, line: int):
        where = f"lines {first_line} and {line}" if line != first_line else f"line {line}"
        super().__init__(f"key {key!r} written twice in one mapping ({where})")


class _MetadataLoader(yaml.SafeLoader):
    """PyYAML's safe loader, keeping dates and times as the text written: the schema checks them as strings
    (an impossible date such as 2012-02-30 is then a schema error naming the field, not a crash), and refusing
    a key written twice in one mapping (PyYAML would keep the last value silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in first_line:
                    raise _DuplicateKey(key, first_line[key], line)
                first_line[key] = line
            except TypeError:  # an unhashable key: PyYAML's own error says so
                break
        return super().construct_mapping(node, deep=deep)


_MetadataLoader.add_constructor("tag:yaml.org,2002:timestamp",
                                lambda loader, node: loader.construct_scalar(node))


def _check_values(value: Any, source: str, where: str = "", count: list[int] | None = None,
                  ancestors: tuple[int, ...] = ()) -> None:
    """Bound the size and depth of ``value`` (aliases expanded, recursive ones refused) and refuse text that
    HDF5 cannot store (NUL, lone surrogates), naming the field; before anything walks it unbounded."""
    count = [0] if count is None else count
    count[0] += 1
    if count[0] > MAX_METADATA_VALUES:
        raise MetadataError(f"{source}: more than {MAX_METADATA_VALUES:,} values once YAML aliases (*name) are "
                            "expanded; a metadata file needs no more (write the values out)")
    if isinstance(value, str):
        _check_text(value, source, where)
    elif isinstance(value, (dict, list, tuple, set)):
        if id(value) in ancestors:
            raise MetadataError(f"{source}: {where or '(top level)'}: a recursive YAML alias (the value contains "
                                "itself)")
        if len(ancestors) >= MAX_METADATA_DEPTH:
            raise MetadataError(f"{source}: {where}: nested more than {MAX_METADATA_DEPTH} levels deep")
        inner = (*ancestors, id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            name = str(key) if str(key).isprintable() else repr(str(key))[1:-1]  # a printable message
            field = f"{where}.{name}" if where else name
            if isinstance(key, str):
                _check_text(key, source, f"{field} (the key)")
            _check_values(item, source, field, count, inner)


def _check_text(text: str, source: str, where: str) -> None:
    if "\x00" in text:
        raise MetadataError(f"{source}: {where or '(top level)'}: contains a NUL character")
    surrogate = next((c for c in text if "\ud800" <= c <= "\udfff"), None)
    if surrogate is not None:
        raise MetadataError(f"{source}: {where or '(top level)'}: contains a lone surrogate "
                            f"(U+{ord(surrogate):04X}), which is not text")


def _key_line(node: Any, path: list[Any]) -> int | None:
    """The line (from 1) where the key (or list item) at ``path`` is written in the YAML ``node`` tree; None
    when it cannot be found (an alias, a key spelled otherwise)."""
    line = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                         None)
            if found is None:
                return None
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return None
    return line


def validate_metadata(metadata: dict[str, Any], source: str = "metadata", yaml_node: Any = None) -> None:
    """Raise :class:`MetadataError` naming every field that breaks the schema, or the first value that is
    too large, recursive, or text HDF5 cannot store. With the YAML ``yaml_node`` tree the file was read from,
    each field is named with its line."""
    import jsonschema

    _check_values(metadata, source)

    def line_of(path: list[Any]) -> str:
        line = _key_line(yaml_node, path) if yaml_node is not None else None
        return f" (line {line})" if line else ""

    validator = jsonschema.Draft7Validator(metadata_schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(metadata), key=lambda e: list(e.absolute_path))
    if errors:
        problems = []
        for error in errors:
            path = list(error.absolute_path)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                known = error.schema.get("properties", {})
                problems += [f"{_error_location(error)}: unknown key {key!r}{line_of(path + [key])}"
                             for key in error.instance if key not in known]
                continue
            if error.validator == "additionalProperties":
                message = error.message.replace("Additional properties are not allowed", "unknown key")
            elif error.validator == "pattern" and "age" in error.absolute_path:
                message = f"{error.instance!r} is not an ISO 8601 duration such as P6M, P6M/P2Y or P6M/ (no upper bound)"
            elif error.validator == "enum":
                message = f"{error.instance!r} is not one of {error.validator_value}"
            else:
                message = error.message
            problems.append(f"{_error_location(error)}{line_of(path)}: {message}")
        raise MetadataError(f"{source}: invalid metadata: " + "; ".join(problems))


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_metadata(file_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The conversion metadata: the defaults, overridden by ``file_path`` when given.

    Parameters
    ----------
    file_path : str or PathLike, optional
        A YAML file following ``schemas/metadata.schema.json``.

    Returns
    -------
    dict
        Validated metadata, species as NCBI taxon URLs and DOIs as ``https://doi.org/`` URLs;
        ``user_keys`` lists the keys the user set
        (``subjects.<id>.<field>`` for per-subject fields).

    Raises
    ------
    MetadataError
        The file is missing, not YAML, breaks the schema (every bad field is named), or names a species
        other than the ferret without its NCBI taxon URL.
    """
    user: dict[str, Any] = {}
    subject_lines: dict[str, int | None] = {}
    if file_path is not None:
        path = Path(file_path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise MetadataError(f"{path}: cannot read metadata file ({err.strerror or err})") from err
        except UnicodeDecodeError as err:
            raise MetadataError(f"{path}: not UTF-8 text (byte {err.start}); save the file as UTF-8") from err
        loader = _MetadataLoader(text)  # (a SafeLoader) as yaml.load, keeping the node tree for line numbers
        try:
            node = loader.get_single_node()
            user = (loader.construct_document(node) if node is not None else None) or {}
        except _DuplicateKey as err:
            raise MetadataError(f"{path}: {err}; keep one") from None
        except yaml.YAMLError as err:
            raise MetadataError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from err
        except RecursionError:
            raise MetadataError(f"{path}: nested too deeply to be a metadata file") from None
        finally:
            loader.dispose()
        if not isinstance(user, dict):
            raise MetadataError(f"{path}: the top level must be a mapping of keys, found {type(user).__name__}")
        _check_values(user, str(path))  # bounded: before the copy below expands every alias
        # The schema speaks JSON: YAML's other types (!!binary, !!set, integer keys) become strings.
        user = json.loads(json.dumps(user, default=str))
        validate_metadata(user, str(path), node)
        subject_lines = {str(k): _key_line(node, ["subjects", k]) for k in user.get("subjects", {})}
        if "session_start_time" in user:
            parse_datetime(user["session_start_time"], f"{path}: session_start_time")
    merged = _merge(_defaults(), user)
    merged.setdefault("subjects", {})
    source = str(file_path) if file_path is not None else "default metadata"
    merged["related_publications"] = [publication_url(p) for p in merged.get("related_publications", [])]
    for where, fields in [("subject", merged.get("subject", {}))] + \
            [(f"subjects.{k}", v) for k, v in merged["subjects"].items()]:
        if "species" in fields:
            fields["species"] = species_url(fields["species"], f"{source}: {where}.species")
    user_keys = {k for k in user if k != "subjects"}
    for subject_id, fields in user.get("subjects", {}).items():
        user_keys.update(f"subjects.{subject_id}.{f}" for f in fields)
    user_keys.update(f"subject.{f}" for f in user.get("subject", {}))
    merged["user_keys"] = sorted(user_keys)
    # The file and where each of its ``subjects.<id>`` is written (id -> line), for check_subject_ids.
    merged["subject_lines"] = (source, subject_lines)
    return merged


def check_subject_ids(metadata: dict[str, Any], subject_ids: list[str]) -> None:
    """Refuse a ``subjects.<id>`` of the user's file that names none of the conversion's subjects (a typo
    would leave that ferret at the defaults without a word).

    Raises
    ------
    MetadataError
        One line naming the file, the id, its line and the subjects there are.
    """
    source, lines = metadata.get("subject_lines", ("metadata", {}))
    unknown = [key for key in lines if key not in subject_ids]
    if unknown:
        key = unknown[0]
        line = f" (line {lines[key]})" if lines.get(key) else ""
        raise MetadataError(f"{source}: subjects.{key}{line} is none of the subjects of this conversion "
                            f"({', '.join(subject_ids)}); correct the id or remove it")


def synthetic_clock_start(metadata: dict[str, Any]) -> datetime | None:
    """The metadata's ``session_start_time``: where the synthetic clock of a tree without timestamps
    starts (None: the default)."""
    text = metadata.get("session_start_time")
    return parse_datetime(text) if text else None


def parse_datetime(text: str, where: str = "session_start_time") -> datetime:
    """An RFC 3339 / ISO 8601 date-time (``t``/``z`` in any case); UTC when no zone is given.

    Raises
    ------
    MetadataError
        ``text`` is not such a date-time (the message starts with ``where``).
    """
    normalised = str(text).strip()
    normalised = re.sub(r"^(\d{4}-\d{2}-\d{2})[tT ]", r"\1T", normalised)
    normalised = re.sub(r"[zZ]$", "+00:00", normalised)
    try:
        value = datetime.fromisoformat(normalised)
    except ValueError:
        raise MetadataError(f"{where}: {text!r} is not a date-time such as 2012-01-18T20:58:39+00:00") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def subject_metadata(metadata: dict[str, Any], subject_id: str) -> tuple[dict[str, Any], list[str]]:
    """Subject fields for one ferret and the names of those that fell back to defaults.

    Per-subject keys (``subjects.<id>``) win over the shared ``subject`` block.
    """
    shared = metadata.get("subject", {})
    specific = metadata.get("subjects", {}).get(subject_id, {})
    fields = {**shared, **specific}
    user = set(metadata.get("user_keys", []))
    defaulted = [
        name for name in SUBJECT_FIELDS_TO_FILL
        if f"subjects.{subject_id}.{name}" not in user and f"subject.{name}" not in user
    ]
    return fields, defaulted
