"""Download the public NS1 release into a folder ``ns1nwb convert`` can read.

What is fetched (no account needed):

* from OSF (osf.io/ayw2p, ``<osf base>/<guid>/``): ``MetadataSHEnCneurons.mat`` (gdwyd),
  ``spikesandwav.zip`` (5nxga, ~150 MB, unpacked into ``spikesandwav/``) and ``ReadMe.rtf`` (f3rtm);
* with ``with_spectrogram``: ``test_data_5ms.mat`` from the DNet companion repository
  (``<github base>/test_data_5ms.mat``), the spectrograms of Rahman et al. (2019).

Only the standard library talks HTTP (:mod:`urllib.request`). A download goes to
``<name>.part`` and is renamed into place when complete; an interrupted one resumes
with an HTTP ``Range`` request on the next run. Each finished file's size and SHA-256
go to ``ns1nwb-download.json`` in the folder, so a second run checks what is there
and fetches nothing. The zip is unpacked entry by entry after checking that no entry
leaves the folder (absolute paths, ``..``, symlinks are refused), into a staging folder
renamed to ``spikesandwav/`` at the end.

The base URLs can be changed (arguments, or the ``NS1NWB_OSF_BASE_URL`` and
``NS1NWB_GITHUB_BASE_URL`` environment variables), e.g. to a mirror or a local test server.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import stat
import urllib.error
import urllib.request
import uuid
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ._version import __version__
from .constants import METADATA_FILE, SPECTROGRAM_FILE, SPIKES_DIR
from .exceptions import DownloadError, Ns1Warning, UnsafeArchiveError

__all__ = [
    "download_release",
    "release_files",
    "unpack_zip",
    "DownloadResult",
    "RemoteFile",
    "OSF_BASE_URL",
    "GITHUB_BASE_URL",
    "MANIFEST_NAME",
]

#: OSF serves a file of the project at ``<OSF_BASE_URL>/<guid>/`` (a redirect to its storage).
OSF_BASE_URL = "https://osf.io/download"
#: Raw files of the DNet companion repository (Rahman et al. 2019), master branch.
GITHUB_BASE_URL = "https://raw.githubusercontent.com/monzilur/DNet/master"
OSF_ENV = "NS1NWB_OSF_BASE_URL"
GITHUB_ENV = "NS1NWB_GITHUB_BASE_URL"

#: File name -> OSF guid of the NS1 release (osf.io/ayw2p).
OSF_FILES = {METADATA_FILE: "gdwyd", "spikesandwav.zip": "5nxga", "ReadMe.rtf": "f3rtm"}
ZIP_NAME = "spikesandwav.zip"
#: What ns1nwb records about the files it downloaded, in the download folder.
MANIFEST_NAME = "ns1nwb-download.json"

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RemoteFile:
    """One file of the release: its name in the download folder and where it comes from."""

    name: str
    url: str


@dataclass
class DownloadResult:
    """What :func:`download_release` did, file by file."""

    folder: Path
    #: file name -> "downloaded", "resumed", "verified" (already there, checksum matches) or "kept"
    #: (there before ns1nwb, not downloaded by it; recorded as found).
    files: dict[str, str] = field(default_factory=dict)
    #: "unpacked", "already unpacked" or "kept" (a spikesandwav/ that ns1nwb did not unpack).
    unpacked: str = ""
    n_bytes: int = 0

    def summary(self) -> str:
        fetched = [n for n, s in self.files.items() if s in ("downloaded", "resumed")]
        present = [n for n, s in self.files.items() if s not in ("downloaded", "resumed")]
        parts = []
        if fetched:
            parts.append(f"downloaded {len(fetched)} file(s) ({self.n_bytes / 1e6:.1f} MB)")
        if present:
            parts.append(f"{len(present)} already there")
        if self.unpacked:
            parts.append(f"{SPIKES_DIR}/ {self.unpacked}")
        return (f"{self.folder}: " + ", ".join(parts) + f"; next: ns1nwb convert {self.folder} ns1.nwb")


# --------------------------------------------------------------------------- what to fetch


def _base(value: str | None, env: str, default: str) -> str:
    base = value or os.environ.get(env) or default
    return base.rstrip("/")


def release_files(*, with_spectrogram: bool = False, osf_base_url: str | None = None,
                  github_base_url: str | None = None) -> list[RemoteFile]:
    """The files of the release and their URLs (base URLs: argument, else environment, else the public ones).

    Parameters
    ----------
    with_spectrogram : bool, default False
        Add ``test_data_5ms.mat`` from the DNet repository.
    osf_base_url : str, optional
        Replaces ``https://osf.io/download`` (else ``$NS1NWB_OSF_BASE_URL``); files are ``<base>/<guid>/``.
    github_base_url : str, optional
        Replaces ``https://raw.githubusercontent.com/monzilur/DNet/master`` (else ``$NS1NWB_GITHUB_BASE_URL``).
    """
    osf = _base(osf_base_url, OSF_ENV, OSF_BASE_URL)
    files = [RemoteFile(name, f"{osf}/{guid}/") for name, guid in OSF_FILES.items()]
    if with_spectrogram:
        github = _base(github_base_url, GITHUB_ENV, GITHUB_BASE_URL)
        files.append(RemoteFile(SPECTROGRAM_FILE, f"{github}/{SPECTROGRAM_FILE}"))
    return files


# --------------------------------------------------------------------------- the manifest


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {"files": {}, "unpacked": {}}
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("unpacked", {}), dict):
            raise ValueError("unexpected structure")
    except (ValueError, OSError) as err:
        raise DownloadError(f"{path}: unreadable download manifest ({err}); delete it and run again "
                            "(present files are then checked and recorded anew)") from None
    manifest.setdefault("unpacked", {})
    return manifest


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    manifest["software"] = f"ns1nwb {__version__}"
    tmp = folder / f".{MANIFEST_NAME}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, folder / MANIFEST_NAME)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- HTTP


def _open(url: str, start: int, timeout: float) -> Any:
    headers = {"User-Agent": f"ns1nwb/{__version__} (+https://osf.io/ayw2p)", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) URLs from release_files)


def _offline_error(url: str, reason: Any) -> DownloadError:
    return DownloadError(f"{url}: cannot connect ({reason}); check the internet connection or proxy, then run "
                         "the same command again (finished files are kept, partial ones resume)")


def _total_from_content_range(value: str | None) -> int | None:
    match = re.match(r"bytes\s+(?:\d+-\d+|\*)/(\d+)", value or "")
    return int(match.group(1)) if match else None


def _fetch(remote: RemoteFile, target: Path, *, progress: bool, timeout: float) -> tuple[str, int, str]:
    """Download ``remote`` to ``target`` through ``target.part``, resuming it; (status, bytes fetched, sha256)."""
    part = target.with_name(target.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    status = "resumed" if start else "downloaded"
    try:
        response = _open(remote.url, start, timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # nothing after what we have: the part may be complete
            total = _total_from_content_range(err.headers.get("Content-Range"))
            err.close()
            if total == start:
                return _finish(part, target, status, 0)
            part.unlink()  # a part longer than the file: start over
            return _fetch(remote, target, progress=progress, timeout=timeout)
        err.close()
        hint = ("the file may have moved; check the address or pass another base URL "
                "(--osf-base-url / --github-base-url)") if err.code in (403, 404, 410) else \
            "the server failed; try again later"
        raise DownloadError(f"{remote.url}: HTTP {err.code} {err.reason} while fetching {remote.name}; {hint}") from None
    except urllib.error.URLError as err:
        raise _offline_error(remote.url, err.reason) from None
    except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException) as err:
        raise _offline_error(remote.url, err) from None

    with response:
        code = getattr(response, "status", None) or response.getcode()
        if start and code == 206:
            offset = _content_range_start(response.headers.get("Content-Range"))
            if offset != start:
                raise DownloadError(f"{remote.url}: asked for bytes from {start}, got a range from {offset}; "
                                    f"delete {part} and run again")
            total = _total_from_content_range(response.headers.get("Content-Range"))
            mode = "ab"
        else:  # 200: a fresh start (also when the server ignores Range)
            start, status, mode = 0, "downloaded", "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        fetched = _copy(response, part, mode, start, total, remote, progress)
    if total is not None and part.stat().st_size != total:
        raise DownloadError(f"{remote.url}: transfer ended at {part.stat().st_size:,} of {total:,} bytes; "
                            "run the same command again to resume")
    return _finish(part, target, status, fetched)


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes\s+(\d+)-\d+/", value or "")
    return int(match.group(1)) if match else None


def _copy(response: BinaryIO, part: Path, mode: str, start: int, total: int | None, remote: RemoteFile,
          progress: bool) -> int:
    bar = None
    if progress:
        from tqdm import tqdm as progress_bar

        bar = progress_bar(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                           desc=remote.name, leave=True)
    fetched = 0
    try:
        with part.open(mode) as out:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException, OSError) as err:
                    done = start + fetched
                    raise DownloadError(
                        f"{remote.url}: connection lost after {done:,}"
                        + (f" of {total:,}" if total else "")
                        + f" bytes ({type(err).__name__}); run the same command again to resume from {part.name}"
                    ) from None
                if not chunk:
                    break
                out.write(chunk)
                fetched += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return fetched


def _finish(part: Path, target: Path, status: str, fetched: int) -> tuple[str, int, str]:
    digest = _sha256(part)
    os.replace(part, target)
    return status, fetched, digest


# --------------------------------------------------------------------------- unzipping


def _entry_parts(name: str) -> list[str]:
    return [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]


def _check_entry(archive: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchiveError(f"{archive}: entry {name!r} is a symbolic link; refusing to unpack "
                                 "(a link could point outside the folder); get the zip again from OSF")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveError(f"{archive}: entry {name!r} has an absolute path; refusing to unpack anything "
                                 "(it would write outside the folder); get the zip again from OSF")
    if ".." in _entry_parts(name):
        raise UnsafeArchiveError(f"{archive}: entry {name!r} contains '..'; refusing to unpack anything "
                                 "(it would write outside the folder); get the zip again from OSF")
    if "\0" in name:
        raise UnsafeArchiveError(f"{archive}: entry {name!r} has a NUL byte in its name; refusing to unpack")


def unpack_zip(zip_path: str | os.PathLike, folder_path: str | os.PathLike) -> int:
    """Unpack ``spikesandwav.zip`` into ``folder_path/spikesandwav/``, refusing entries that escape it.

    Every entry is checked before anything is written: an absolute path, a ``..``
    component or a symbolic link raises :class:`UnsafeArchiveError` naming the entry.
    Entries are written into a hidden staging folder renamed to ``spikesandwav/`` at
    the end, so an error leaves no half-unpacked tree. A zip whose entries do not all
    start with ``spikesandwav/`` is unpacked inside ``spikesandwav/``. ``__MACOSX/``
    entries are skipped.

    Parameters
    ----------
    zip_path : str or os.PathLike
    folder_path : str or os.PathLike
        The release folder; ``spikesandwav/`` must not exist in it yet.

    Returns
    -------
    int
        Number of files written.
    """
    archive, folder = Path(zip_path), Path(folder_path)
    destination = folder / SPIKES_DIR
    if destination.exists():
        raise DownloadError(f"{destination}: already exists; remove it to unpack {archive.name} again")
    try:
        handle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise DownloadError(f"{archive}: not a readable zip ({err}); delete it and run again to fetch it anew") from None
    staging = folder / f".{SPIKES_DIR}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
    with handle:
        entries = [info for info in handle.infolist() if _entry_parts(info.filename)[:1] != ["__MACOSX"]]
        for info in entries:
            _check_entry(archive, info)
        prefixed = all(_entry_parts(info.filename)[:1] == [SPIKES_DIR] for info in entries if _entry_parts(info.filename))
        root = staging if prefixed else staging / SPIKES_DIR
        n_files = 0
        try:
            staging.mkdir()
            resolved_root = staging.resolve()
            for info in entries:
                parts = _entry_parts(info.filename)
                if not parts:
                    continue
                out = root.joinpath(*parts)
                if not out.resolve().is_relative_to(resolved_root):  # belt and braces after _check_entry
                    raise UnsafeArchiveError(f"{archive}: entry {info.filename!r} would be written outside "
                                             f"{folder}; refusing to unpack")
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with handle.open(info) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                n_files += 1
            unpacked = staging / SPIKES_DIR
            if not unpacked.is_dir():
                raise DownloadError(f"{archive}: holds no files; delete it and run again to fetch it anew")
            os.replace(unpacked, destination)
        except zipfile.BadZipFile as err:
            raise DownloadError(f"{archive}: corrupt zip ({err}); delete it and run again to fetch it anew") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return n_files


# --------------------------------------------------------------------------- the whole release


def download_release(folder_path: str | os.PathLike, *, with_spectrogram: bool = False,
                     osf_base_url: str | None = None, github_base_url: str | None = None,
                     progress: bool = False, timeout: float = _TIMEOUT_S) -> DownloadResult:
    """Download the NS1 release into ``folder_path`` and unpack ``spikesandwav.zip``; safe to re-run.

    Files already downloaded (size and SHA-256 as recorded in ``ns1nwb-download.json``)
    are not fetched again; a file whose checksum no longer matches is fetched anew
    (with an :class:`~ns1nwb.exceptions.Ns1Warning`); a file that was there before
    ns1nwb ran is kept and recorded. An interrupted download resumes from its
    ``.part`` file with an HTTP ``Range`` request.

    Parameters
    ----------
    folder_path : str or os.PathLike
        Created if missing (its parent must exist).
    with_spectrogram : bool, default False
        Also fetch ``test_data_5ms.mat`` (DNet repository, 5.2 MB).
    osf_base_url, github_base_url : str, optional
        Other base URLs (a mirror, a local test server); see :func:`release_files`.
    progress : bool, default False
        Show a tqdm progress bar per file on stderr.
    timeout : float, seconds, default 60
        Socket timeout of each connection and read.

    Returns
    -------
    DownloadResult
        What was downloaded, verified or kept; ``summary()`` is one line.

    Raises
    ------
    DownloadError
        Offline, an HTTP error, a truncated transfer (the ``.part`` is kept to resume).
    UnsafeArchiveError
        A zip entry would be written outside the folder.
    """
    folder = Path(folder_path)
    if folder.exists() and not folder.is_dir():
        raise DownloadError(f"{folder}: exists and is not a folder; give a folder to download the release into")
    if not folder.parent.is_dir():
        raise DownloadError(f"{folder}: parent folder {folder.parent} does not exist; create it first")
    folder.mkdir(exist_ok=True)
    manifest = _read_manifest(folder)
    result = DownloadResult(folder=folder)
    remotes = release_files(with_spectrogram=with_spectrogram, osf_base_url=osf_base_url,
                            github_base_url=github_base_url)
    for remote in remotes:
        target = folder / remote.name
        record = manifest["files"].get(remote.name)
        if remote.name == ZIP_NAME and not target.exists() and (folder / SPIKES_DIR).is_dir() \
                and manifest["unpacked"].get(ZIP_NAME):
            result.files[remote.name] = "verified"  # unpacked earlier, zip deleted since: nothing to do
            continue
        if target.is_file():
            if record is None:
                size = target.stat().st_size
                manifest["files"][remote.name] = {"url": remote.url, "size": size, "sha256": _sha256(target),
                                                  "recorded": _now(), "origin": "found in the folder"}
                _write_manifest(folder, manifest)
                result.files[remote.name] = "kept"
                continue
            if target.stat().st_size == record.get("size") and _sha256(target) == record.get("sha256"):
                result.files[remote.name] = "verified"
                continue
            warnings.warn(f"{target}: size or SHA-256 differs from what was downloaded "
                          f"({MANIFEST_NAME}); fetching it again", Ns1Warning, stacklevel=2)
            target.unlink()
        status, fetched, digest = _fetch(remote, target, progress=progress, timeout=timeout)
        manifest["files"][remote.name] = {"url": remote.url, "size": target.stat().st_size, "sha256": digest,
                                          "downloaded": _now()}
        _write_manifest(folder, manifest)
        result.files[remote.name] = status
        result.n_bytes += fetched

    zip_path = folder / ZIP_NAME
    spikes = folder / SPIKES_DIR
    zip_digest = manifest["files"].get(ZIP_NAME, {}).get("sha256")
    recorded = manifest["unpacked"].get(ZIP_NAME, {})
    if spikes.is_dir():
        result.unpacked = "already unpacked" if recorded else "kept"
        if recorded and zip_path.is_file() and recorded.get("sha256") != zip_digest:
            warnings.warn(f"{spikes}: was unpacked from another {ZIP_NAME} than the one now in the folder; "
                          f"delete {spikes} to unpack the new one", Ns1Warning, stacklevel=2)
    elif zip_path.is_file():
        n_files = unpack_zip(zip_path, folder)
        manifest["unpacked"][ZIP_NAME] = {"sha256": zip_digest, "n_files": n_files, "unpacked": _now()}
        _write_manifest(folder, manifest)
        result.unpacked = f"unpacked ({n_files} files)"
    return result

