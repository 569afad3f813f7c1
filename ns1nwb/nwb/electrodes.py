"""Devices, electrode groups and the electrodes table (the recording sites the units were on)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..metadata import column_specs
from ..release import RawUnit
from .columns import snake
from .context import BuildContext

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["add_electrodes_to_nwbfile"]


def add_electrodes_to_nwbfile(nwbfile: "NWBFile", ctx: BuildContext) -> dict[tuple[str, int], int]:
    """Devices (one per experiment folder), electrode groups (one per probe/shank) and the used sites.

    Returns
    -------
    dict
        (probe group, site number) -> electrodes table row.
    """
    units = [ctx.release.units[i] for i in ctx.unit_indices]
    specs = {c["name"]: c for c in column_specs()["electrodes"]}
    for name in ("site_number", "probe_site_count", "depth_um"):
        nwbfile.add_electrode_column(name=name, description=specs[name]["description"])
    devices: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    sites: dict[tuple[str, int], RawUnit] = {}
    for unit in units:
        sites.setdefault((unit.probe_group, int(unit.metadata.get("ElectrodeNumber") or 0)), unit)
    row_of: dict[tuple[str, int], int] = {}
    rows: list[dict[str, Any]] = []
    for (group_label, site), unit in sorted(sites.items()):
        n_sites = int(unit.metadata.get("NrOfElectrodes") or 0)
        if unit.experiment not in devices:
            layout = unit.experiment.split("_", 1)[1] if "_" in unit.experiment else f"{n_sites}-site"
            if "probe_model" not in nwbfile.device_models:
                nwbfile.create_device_model(name="probe_model", manufacturer="NeuroNexus",
                                            description="Multi-site silicon probe (16 or 32 sites, 1 or 4 shanks).")
            devices[unit.experiment] = nwbfile.create_device(
                name=f"probe_{snake(unit.experiment)}",
                description=f"Multi-site silicon probe ({layout}) of experiment {unit.experiment}.",
                model=nwbfile.device_models["probe_model"],
            )
        if group_label not in groups:
            groups[group_label] = nwbfile.create_electrode_group(
                name=group_label.replace("/", "."),
                description=(f"Probe or shank {group_label} ({n_sites} sites), from the spike files' folder "
                             "names (the .D/.U folders of one penetration are one probe)."),
                location="primary auditory cortex",
                device=devices[unit.experiment],
            )
        depth = unit.metadata.get("depth")
        rows.append({"location": "primary auditory cortex", "group": groups[group_label], "site_number": site,
                     "probe_site_count": n_sites, "depth_um": int(depth) if isinstance(depth, (int, float)) else 0,
                     "group_name": groups[group_label].name})
        row_of[(group_label, site)] = len(row_of)
    # pynwb adds the first row (and so makes the table's columns); the rest go in one step per column,
    # without add_row's per-row checks (a tenth of the time).
    if rows:
        nwbfile.add_electrode(**rows[0])
        table = nwbfile.electrodes
        table.id.extend(range(1, len(rows)))
        for name in table.colnames:
            table[name].extend([row[name] for row in rows[1:]])
    return row_of

