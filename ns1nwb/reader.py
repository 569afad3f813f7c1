"""Deprecated: ``ns1nwb.reader`` moved; import from ns1nwb (open, Recording) or ns1nwb.read instead.

Kept so that code written for ns1nwb 0.1 keeps working; it will be removed in ns1nwb 0.3.
"""

import warnings

from .read import NwbFileHandle, Recording, bin_spike_times, hanning_kernel, open

__all__ = ['open', 'Recording', 'NwbFileHandle', 'bin_spike_times', 'hanning_kernel']

warnings.warn("ns1nwb.reader is deprecated and will be removed in ns1nwb 0.3; import from ns1nwb (open, Recording) or ns1nwb.read instead",
              FutureWarning, stacklevel=2)
