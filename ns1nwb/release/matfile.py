"""Reading MAT files of the release: bytes read once (parsed and hashed), values as plain Python."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import RawFormatError
from .model import SourceFile

__all__ = ["read_source", "load_mat", "plain_value"]


def read_source(path: Path) -> tuple[bytes, SourceFile]:
    """A file's bytes, read once for both parsing and its checksum."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as err:
        raise RawFormatError(f"{path}: cannot be read ({err.strerror or err})") from err
    return data, SourceFile(path, len(data), hashlib.sha256(data).hexdigest())


def load_mat(path: Path, data: bytes | None = None) -> dict[str, Any]:
    """loadmat of ``path``, or of its bytes when given (in memory: fewer, cheaper reads than from the file)."""
    import scipy.io

    try:
        return scipy.io.loadmat(io.BytesIO(data) if data is not None else path)
    except FileNotFoundError:
        raise
    except Exception as err:  # scipy raises several types for a bad file
        raise RawFormatError(f"{path}: not a readable MAT file ({err}); re-download or re-extract it") from err


def plain_value(value: Any) -> Any:
    """A MAT field value as a plain Python value (str, int, float, list, dict or None)."""
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind in "US":
            return "".join(value.ravel().tolist())
        if value.dtype.names:
            if value.size == 0:
                return None
            record = value.ravel()[0]
            return {name: plain_value(record[name]) for name in value.dtype.names}
        if kind == "O":
            items = [plain_value(v) for v in value.ravel()]
            return items[0] if len(items) == 1 else items
        if value.size == 1:
            # .item() turns any integer dtype into int and floats into float.
            return value.item() if kind != "f" else float(value.item())
        if value.size == 0:
            return None
        return value.ravel().tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
