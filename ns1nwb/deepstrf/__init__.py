"""deepSTRF users switch in one line: ``from ns1nwb.deepstrf import NS1Dataset``.

:class:`NS1Dataset` (``ns1nwb.deepstrf.dataset``) is deepSTRF's ``AudioNeuralDataset`` over an ns1nwb file,
``--dandi`` folder or URL, equal to deepSTRF's own ``NS1Dataset`` on the same release. It needs deepSTRF and torch
(``pip install '.[deepstrf]'`` in the clone) and is imported only when asked for, so that :func:`read_lists`
(``ns1nwb.deepstrf.lists``: the same lists as numpy arrays) works without torch.
"""

from __future__ import annotations

from typing import Any

from . import lists
from .lists import (
    HEARING_RANGE_HZ,
    NS1_RAHMAN_TEST_INDICES,
    NS1_RAHMAN_TRAINVAL_INDICES,
    SPECIES,
    DatasetLists,
    read_lists,
)

__all__ = ["NS1Dataset", *lists.__all__]


def __getattr__(name: str) -> Any:
    # Importing torch and deepSTRF takes seconds: only when NS1Dataset itself is asked for.
    if name == "NS1Dataset":
        from .dataset import NS1Dataset

        return NS1Dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
