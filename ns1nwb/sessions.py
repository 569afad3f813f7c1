"""Deprecated: ``ns1nwb.sessions`` moved; import from ns1nwb.release instead.

Kept so that code written for ns1nwb 0.1 keeps working; it will be removed in ns1nwb 0.3.
"""

import warnings

from .release.blocks import (LOCAL_TZ, Presentation, RecordingBlock, SessionPlan, block_offsets_s,
                             plan_sessions)

__all__ = ['Presentation', 'RecordingBlock', 'SessionPlan', 'plan_sessions', 'block_offsets_s', 'LOCAL_TZ']

warnings.warn("ns1nwb.sessions is deprecated and will be removed in ns1nwb 0.3; import from ns1nwb.release instead",
              FutureWarning, stacklevel=2)
