"""The names an NWB file gives to what the raw release names, and the check that they stay distinct.

Devices (one per experiment folder), electrode groups (one per probe or shank), subjects and sessions (DANDI's
label rule: letters, digits and '-') and the unit columns of the metadata's fields. The release model keeps
the raw names (:mod:`ns1nwb.release.model`); :func:`check_nwb_names` refuses a release whose distinct raw
names would share one NWB name, before a file is built.
"""

from __future__ import annotations

import re

from ..constants import METADATA_FILE
from ..exceptions import RawFormatError
from ..release import BlockPlan, RawRelease, RawUnit, RecordingBlock
from .columns import column_specs

__all__ = ["snake_name", "dandi_label", "subject_id_of", "session_id_of", "device_name", "electrode_group_name",
           "unit_column_names", "check_nwb_names"]


def snake_name(name: str) -> str:
    """``NrOfElectrodes`` -> ``nr_of_electrodes``: a raw name as a column or object name."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", re.sub(r"[^A-Za-z0-9]+", "_", name)).strip("_").lower() or "field"


def dandi_label(text: str) -> str:
    """Letters, digits and '-' only (DANDI's rule for subject and session labels)."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or "x"


def subject_id_of(block: RecordingBlock) -> str:
    """The ``subject_id`` of a block's ferret (``exp57``)."""
    return dandi_label(block.ferret)


def session_id_of(block: RecordingBlock, clock: str) -> str:
    """The ``session_id`` of a block: ferret, penetrations and start (``exp57-P03-20130312T101500``); on the
    synthetic clock (``clock`` not ``"wall-clock"``) its number instead of its start (``exp57-P03-block02``)."""
    when = block.start.strftime("%Y%m%dT%H%M%S") if clock == "wall-clock" else f"block{block.number:02d}"
    return dandi_label(f"{subject_id_of(block)}-{'+'.join(block.penetrations)}-{when}")


def device_name(unit: RawUnit) -> str:
    """The device of the unit's experiment folder: ``probe_exp57_b4x8``."""
    return f"probe_{snake_name(unit.experiment)}"


def electrode_group_name(unit: RawUnit) -> str:
    """The electrode group of the unit's probe or shank: ``exp57_B4x8.P03-SH_En_C.Lsh2``."""
    return unit.probe_group.replace("/", ".")


def unit_column_names(fields: list[str]) -> dict[str, str]:
    """Raw metadata field -> the unit column it becomes: the spec's name (``depth`` -> ``depth_um``; the
    path field, else the first, -> ``unit_name``), or its snake_case name."""
    known = {c["source"].split(":", 1)[1]: c["name"] for c in column_specs()["units"]
             if c["source"].startswith("metadata:")}
    path_field = "path" if "path" in fields else fields[0]
    return {name: known["path"] if name == path_field else known.get(name, snake_name(name)) for name in fields}


def _columns_of_the_writer() -> set[str]:
    """Unit columns ns1nwb makes itself: pynwb's own and the spec's derived ones, with their ``_index``."""
    from pynwb.misc import Units

    columns = [(c["name"], int(c.get("index", 0))) for c in Units.__columns__]
    columns += [(c["name"], int(bool(c.get("ragged")))) for c in column_specs()["units"]
                if not c["source"].startswith("metadata:")]
    return {"id"} | {name + "_index" * level for name, levels in columns for level in range(levels + 1)}


def check_nwb_names(release: RawRelease, plan: BlockPlan) -> None:
    """Distinct raw names must give distinct NWB names, and a metadata field may not become a unit column
    ns1nwb writes itself (else pynwb fails on a duplicate name, or two ferrets become one subject).

    Raises
    ------
    RawFormatError
        Naming the metadata file, or the spike file of the second unit (or block) that takes a name.
    """
    meta_path = release.root / METADATA_FILE
    written, seen = _columns_of_the_writer(), {}
    for name, column in unit_column_names(release.metadata_fields).items():
        if column in written:
            raise RawFormatError(f"{meta_path}: metadata field {name!r} would become unit column {column!r}, which "
                                 "ns1nwb writes itself; rename the field")
        if column in seen:
            raise RawFormatError(f"{meta_path}: metadata fields {seen[column]!r} and {name!r} would both become unit "
                                 f"column {column!r}; rename one")
        seen[column] = name
    # (what, its raw name, its NWB name, the file an error names)
    named = [("experiment folders", u.experiment, device_name(u), u.spike_file) for u in release.units]
    named += [("probe folders", u.probe_group, electrode_group_name(u), u.spike_file) for u in release.units]
    named += [("ferret folders", b.ferret, subject_id_of(b), release.units[b.unit_indices[0]].spike_file)
              for b in plan.blocks]
    owner: dict[tuple[str, str], str] = {}
    for what, source, name, spike_file in named:
        first = owner.setdefault((what, name), source)
        if first != source:
            raise RawFormatError(f"{spike_file}: {what} {first!r} and {source!r} would both be named {name!r} in the "
                                 "NWB file; rename one folder")
    sessions: dict[str, RecordingBlock] = {}
    for block in plan.blocks:
        first_block = sessions.setdefault(session_id_of(block, plan.clock), block)
        if first_block is not block:
            raise RawFormatError(f"{release.units[block.unit_indices[0]].spike_file}: its recording block and the one "
                                 f"of {release.units[first_block.unit_indices[0]].spike_file} would both be session "
                                 f"{session_id_of(block, plan.clock)!r} (same ferret, penetrations and start second); "
                                 "are their timestamps right?")
