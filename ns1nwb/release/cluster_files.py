"""Which ``.mat`` files under ``spikesandwav/`` are cluster files: one file per cluster number and folder.

The release names every sorted cluster ``cluster.NN.data.mat`` (``NN`` two digits, lower case: all 279 files
of the shared copy, and the 596 of the release by its ``clusterquality.mat`` numbering), beside one
``clusterquality.mat`` per folder. The seed reads ``cluster.NN.data_1.mat`` when a metadata file is missing,
so that name is a cluster file too. Nothing else is: a copy (``cluster.07.data copy.mat``), another case
(``Cluster.02.data.mat``, ``cluster.03.data.MAT``) or any other ``.mat`` is not read, and is counted with why.

A cluster number belongs to one file of its folder (its element of ``clusterquality``): a second file with
the same number (``cluster.13.data_1.mat`` or ``cluster.013.data.mat`` beside ``cluster.13.data.mat``) would
be the same cluster twice, so it is not read either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["CLUSTER_QUALITY_FILE", "DUPLICATE_NUMBER", "NOT_A_CLUSTER_NAME", "FolderFiles", "UnreadFile",
           "classify_folder", "cluster_number", "describe_unread"]

#: A sorted cluster's spike file: ``cluster.NN.data.mat``, or the seed's fallback ``cluster.NN.data_1.mat``.
_CLUSTER_FILE = re.compile(r"cluster\.(\d+)\.data(?:_1)?\.mat", re.ASCII)
CLUSTER_QUALITY_FILE = "clusterquality.mat"

#: Why a ``.mat`` file under ``spikesandwav/`` was not read.
DUPLICATE_NUMBER = "duplicate cluster number"
NOT_A_CLUSTER_NAME = "not a cluster file name"


def cluster_number(name: str) -> int | None:
    """NN of a cluster file name (``cluster.07.data.mat`` -> 7), None for any other name."""
    match = _CLUSTER_FILE.fullmatch(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class UnreadFile:
    """A ``.mat`` file under ``spikesandwav/`` that was not read."""

    #: Relative to ``spikesandwav/``.
    path: str
    #: :data:`DUPLICATE_NUMBER` or :data:`NOT_A_CLUSTER_NAME`.
    reason: str
    #: For a duplicate: the file of its folder that holds its number.
    holder: str = ""


@dataclass
class FolderFiles:
    """The ``.mat`` names of one folder, sorted out (:func:`classify_folder`)."""

    #: Cluster files to read besides those already read, one per number, in name order.
    clusters: list[str] = field(default_factory=list)
    #: (name, the name holding its number) of each file whose number another file of the folder holds.
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    #: Names that are not cluster files (``clusterquality.mat`` is none of these: it is read for the codes).
    not_clusters: list[str] = field(default_factory=list)


def classify_folder(names: Iterable[str], read: Iterable[str] = ()) -> FolderFiles:
    """Sort the ``.mat`` file names of one folder under ``spikesandwav/`` into cluster files to read,
    duplicates of a cluster number, and names that are not cluster files.

    Parameters
    ----------
    names : iterable of str
        Every ``.mat`` name of the folder (any case of the suffix); ``clusterquality.mat`` is left out.
    read : iterable of str
        The names of the folder already read for the metadata's units: they hold their numbers first.

    Returns
    -------
    FolderFiles
        A number is held, in this order, by a file already read, then ``cluster.NN.data.mat`` written as the
        release writes it (two digits at least), then ``cluster.NN.data_1.mat``, then the first other
        spelling by name (``cluster.7.data.mat``, ``cluster.013.data.mat``).
    """
    already = set(read)
    names = sorted(set(names) - {CLUSTER_QUALITY_FILE})
    result = FolderFiles()
    numbered: list[tuple[int, str]] = []
    for name in names:
        number = cluster_number(name)
        if number is not None:
            numbered.append((number, name))
        elif name not in already:  # the metadata may name any file: what it names is read
            result.not_clusters.append(name)

    def rank(item: tuple[int, str]) -> tuple[bool, bool, bool, str]:
        number, name = item
        return (name not in already, name != f"cluster.{number:02d}.data.mat",
                name != f"cluster.{number:02d}.data_1.mat", name)

    holder: dict[int, str] = {}
    for number, name in sorted(numbered, key=rank):
        if name in already:
            holder.setdefault(number, name)
        elif number in holder:
            result.duplicates.append((name, holder[number]))
        else:
            holder[number] = name
            result.clusters.append(name)
    result.clusters.sort()
    result.duplicates.sort()
    return result


def describe_unread(unread: list[UnreadFile], shown: int = 3) -> str:
    """One line: how many ``.mat`` files under ``spikesandwav/`` were not read, by reason, naming a few."""
    plurals = {DUPLICATE_NUMBER: "duplicate cluster numbers", NOT_A_CLUSTER_NAME: "not cluster file names"}
    parts = []
    for reason, plural in plurals.items():
        paths = [u.path for u in unread if u.reason == reason]
        if paths:
            named = ", ".join(paths[:shown]) + (", ..." if len(paths) > shown else "")
            parts.append(f"{len(paths)} {reason if len(paths) == 1 else plural} ({named})")
    n = len(unread)
    return f"{n} .mat file{'s' * (n != 1)} under spikesandwav/ not read: " + ", ".join(parts)
