"""Devices, electrode groups and the electrodes table (the recording sites the units were on)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..release import RawUnit
from .columns import described, specs_of
from .context import BuildContext
from .naming import device_name, electrode_group_name

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["add_electrodes_to_nwbfile", "PRIMARY_AC", "UNKNOWN_LOCATION"]

#: Where the release's metadata places its units (deepSTRF's ``area`` "A1").
PRIMARY_AC = "primary auditory cortex"
#: The location of a probe the release names no unit of.
UNKNOWN_LOCATION = "unknown (the release gives no area for these clusters)"


def site_of(unit: RawUnit) -> int | None:
    """The unit's 1-based recording site, or None when unknown (a cluster the metadata does not name)."""
    value = unit.metadata.get("ElectrodeNumber")
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _site_count(units: list[RawUnit]) -> int | None:
    """Sites of a probe or shank: the metadata's NrOfElectrodes, else the folder's layout (``1x32`` -> 32,
    ``B4x8`` -> 8), else None."""
    for unit in units:
        value = unit.metadata.get("NrOfElectrodes")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    match = re.search(r"(\d+)x(\d+)$", units[0].experiment)
    return int(match.group(2)) if match else None


def add_electrodes_to_nwbfile(nwbfile: "NWBFile", ctx: BuildContext) -> dict[tuple[str, int], int]:
    """Devices (one per experiment folder), electrode groups (one per probe/shank, every unit's) and the
    recording sites known from the metadata (a cluster the metadata does not name has no known site).

    Returns
    -------
    dict
        (probe group, site number) -> electrodes table row.
    """
    units = [ctx.release.units[i] for i in ctx.unit_indices]
    specs = specs_of("electrodes")
    by_group: dict[str, list[RawUnit]] = {}
    for unit in units:
        by_group.setdefault(unit.probe_group, []).append(unit)
    # The release places its metadata's units in primary auditory cortex; a probe none of them was on (only
    # clusters the metadata does not name) gets no area (decided on the whole release, as --dandi files agree).
    located = {u.probe_group for u in ctx.release.units if u.in_metadata}
    devices: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    for group_label, members in sorted(by_group.items()):
        unit, n_sites = members[0], _site_count(members)
        if unit.experiment not in devices:
            layout = unit.experiment.split("_", 1)[1] if "_" in unit.experiment else "layout unknown"
            # No device model: the release names no manufacturer or model.
            devices[unit.experiment] = nwbfile.create_device(
                name=device_name(unit),
                description=f"Multi-site silicon probe ({layout}) of experiment {unit.experiment}.",
            )
        sites_text = f"{n_sites} sites" if n_sites else "number of sites unknown"
        groups[group_label] = nwbfile.create_electrode_group(
            name=electrode_group_name(unit),
            description=(f"Probe or shank {group_label} ({sites_text}), from the spike files' folder names (the "
                         ".D/.U folders of one penetration are one probe)."),
            location=PRIMARY_AC if group_label in located else UNKNOWN_LOCATION,
            device=devices[unit.experiment],
        )
    sites: dict[tuple[str, int], RawUnit] = {}
    for unit in units:
        site = site_of(unit)
        if site is not None:
            sites.setdefault((unit.probe_group, site), unit)
    if not sites:
        return {}
    for name in ("site_number", "probe_site_count", "depth_um"):
        nwbfile.add_electrode_column(name=name, description=described(specs[name]))
    row_of: dict[tuple[str, int], int] = {}
    rows: list[dict[str, Any]] = []
    for (group_label, site), unit in sorted(sites.items()):
        depth = unit.metadata.get("depth")
        rows.append({"location": PRIMARY_AC, "group": groups[group_label], "site_number": site,
                     "probe_site_count": _site_count([unit]) or 0,
                     "depth_um": float(depth) if isinstance(depth, (int, float)) else float("nan"),
                     "group_name": groups[group_label].name})
        row_of[(group_label, site)] = len(row_of)
    # pynwb adds the first row (and so makes the table's columns); the rest go in one step per column,
    # without add_row's per-row checks (a tenth of the time).
    nwbfile.add_electrode(**rows[0])
    table = nwbfile.electrodes
    table.id.extend(range(1, len(rows)))
    for name in table.colnames:
        table[name].extend([row[name] for row in rows[1:]])
    return row_of
