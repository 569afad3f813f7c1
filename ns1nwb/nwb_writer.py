"""Deprecated: ``ns1nwb.nwb_writer`` moved; import from ns1nwb (convert, build_nwbfile, write_nwbfile) or ns1nwb.conversion instead.

Kept so that code written for ns1nwb 0.1 keeps working; it will be removed in ns1nwb 0.3.
"""

import warnings

from .conversion import ConversionResult, convert, parse_audio_rate
from .nwb import build_nwbfile
from .write import write_nwbfile

__all__ = ['ConversionResult', 'build_nwbfile', 'write_nwbfile', 'convert', 'parse_audio_rate']

warnings.warn("ns1nwb.nwb_writer is deprecated and will be removed in ns1nwb 0.3; import from ns1nwb (convert, build_nwbfile, write_nwbfile) or ns1nwb.conversion instead",
              FutureWarning, stacklevel=2)
