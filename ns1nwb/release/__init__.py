"""Reading the raw NS1 release into a plain in-memory model: no NWB, no pynwb import.

- :mod:`.model`: the dataclasses (release, unit, set, repeat, wav);
- :mod:`.matfile`: MAT files read once, values as plain Python;
- :mod:`.spike_files`: one cluster file -> its sets;
- :mod:`.cluster_files`: which ``.mat`` files of a folder are cluster files (one per number);
- :mod:`.tree`: the whole folder (:func:`read_raw_tree`);
- :mod:`.validate`: every raw value checked, in one place;
- :mod:`.blocks`: recording blocks and their clock, from the timestamps.
"""

from .blocks import BlockPlan, Presentation, RecordingBlock, block_offsets_s, plan_blocks
from .model import RawRelease, RawRepeat, RawSet, RawUnit, RawWav, SkippedUnit, SourceFile
from .tree import read_raw_tree

__all__ = [
    "read_raw_tree",
    "RawRelease",
    "RawUnit",
    "RawSet",
    "RawRepeat",
    "RawWav",
    "SkippedUnit",
    "SourceFile",
    "plan_blocks",
    "block_offsets_s",
    "BlockPlan",
    "RecordingBlock",
    "Presentation",
]
