"""The in-memory model -> pynwb containers, one module per NWB area; nothing here touches disk.

- :mod:`.file`: the NWBFile (session, subject, notes) and :func:`build_nwbfile`, which assembles the rest;
- :mod:`.electrodes`, :mod:`.stimuli`, :mod:`.trials`, :mod:`.units`, :mod:`.recording_blocks`,
  :mod:`.provenance`: one area each, ``add_*_to_nwbfile`` functions that change an in-memory file;
- :mod:`.columns`: compressed datasets, plain and ragged columns, the specs of ``schemas/nwb_columns.yaml``;
- :mod:`.naming`: the names of devices, electrode groups, subjects, sessions and metadata columns, and the
  check that they stay distinct;
- :mod:`.context`: what every step needs (the release, its blocks, the options) and the file identifier.
"""

from .electrodes import add_electrodes_to_nwbfile
from .file import build_nwbfile
from .provenance import add_provenance_to_nwbfile
from .stimuli import add_stimuli_to_nwbfile
from .trials import add_trials_to_nwbfile
from .units import add_units_to_nwbfile

__all__ = [
    "build_nwbfile",
    "add_electrodes_to_nwbfile",
    "add_stimuli_to_nwbfile",
    "add_trials_to_nwbfile",
    "add_units_to_nwbfile",
    "add_provenance_to_nwbfile",
]
