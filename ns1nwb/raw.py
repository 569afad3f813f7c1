"""Deprecated: ``ns1nwb.raw`` moved; import from ns1nwb.release instead.

Kept so that code written for ns1nwb 0.1 keeps working; it will be removed in ns1nwb 0.3.
"""

import warnings

from .release import (RawRelease, RawRepeat, RawSet, RawUnit, RawWav, SkippedUnit, SourceFile,
                      read_raw_tree)

__all__ = ['RawRepeat', 'RawSet', 'RawUnit', 'RawWav', 'SkippedUnit', 'RawRelease', 'SourceFile', 'read_raw_tree']

warnings.warn("ns1nwb.raw is deprecated and will be removed in ns1nwb 0.3; import from ns1nwb.release instead",
              FutureWarning, stacklevel=2)
