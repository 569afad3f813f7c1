"""Download the public NS1 release into a folder ``ns1nwb convert`` can read.

What is fetched (no account needed):

* with ``with_spectrogram``: ``test_data_5ms.mat`` from the DNet companion repository
  (``<github base>/test_data_5ms.mat``), the spectrograms of Rahman et al. (2019);
* from OSF (osf.io/ayw2p, ``<osf base>/<guid>/``): ``ReadMe.rtf`` (f3rtm), ``MetadataSHEnCneurons.mat``
  (gdwyd) and, last, ``spikesandwav.zip`` (5nxga, ~150 MB), unpacked into ``spikesandwav/``.

:mod:`pooch` fetches each file to a temporary name in the folder, checks its hash and renames it into place;
a failed transfer is tried again ``retries`` times. pooch does not resume: a broken transfer starts again
from the first byte.

No hash is pinned: the OSF files could not be reached when this was written, so their SHA-256 is not known
here (put one in ``KNOWN_SHA256`` to pin it). Instead the SHA-256 of each file as first downloaded is written
to ``ns1nwb-sha256.txt`` (pooch's registry format) and is pooch's known hash on later runs: an intact file is
not fetched again; a changed one is fetched again and must then match what was recorded.

A failed run leaves nothing it created (the files it fetched; the folder, if it made it). The zip is unpacked
into a hidden staging folder renamed to ``spikesandwav/`` when complete. :class:`zipfile.ZipFile` keeps every
entry inside that folder (it drops absolute roots and ``..`` and writes no symbolic links).

The base URLs can be changed (arguments, or the ``NS1NWB_OSF_BASE_URL`` and
``NS1NWB_GITHUB_BASE_URL`` environment variables), e.g. to a mirror or a local test server.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pooch
import requests

from .constants import METADATA_FILE, SPECTROGRAM_FILE, SPIKES_DIR
from .exceptions import DownloadError

__all__ = ["download_release", "release_urls", "DownloadResult", "KNOWN_SHA256", "REGISTRY_NAME", "OSF_BASE_URL",
           "GITHUB_BASE_URL"]

#: OSF serves a file of the project at ``<OSF_BASE_URL>/<guid>/`` (a redirect to its storage).
OSF_BASE_URL = "https://osf.io/download"
#: Raw files of the DNet companion repository (Rahman et al. 2019), master branch.
GITHUB_BASE_URL = "https://raw.githubusercontent.com/monzilur/DNet/master"
OSF_ENV = "NS1NWB_OSF_BASE_URL"
GITHUB_ENV = "NS1NWB_GITHUB_BASE_URL"
ZIP_NAME = "spikesandwav.zip"
#: File name -> OSF guid of the NS1 release (osf.io/ayw2p); the big zip last, so a failure costs little.
OSF_FILES = {"ReadMe.rtf": "f3rtm", METADATA_FILE: "gdwyd", ZIP_NAME: "5nxga"}
#: Pinned SHA-256 by file name: none known yet (see the module docstring); a pin wins over the registry.
KNOWN_SHA256: dict[str, str] = {}
#: SHA-256 of each file as first downloaded, in the download folder (pooch registry: ``name hash`` lines).
REGISTRY_NAME = "ns1nwb-sha256.txt"

_CHUNK = 1 << 20


@dataclass
class DownloadResult:
    """What :func:`download_release` did, file by file."""

    folder: Path
    #: file name -> pooch's action: "download", "update" (changed since recorded, fetched again) or "fetch"
    #: (there and intact). The zip is not listed once ``spikesandwav/`` exists.
    files: dict[str, str] = field(default_factory=dict)
    #: Whether this run unpacked ``spikesandwav.zip``.
    unpacked: bool = False
    n_bytes: int = 0

    def summary(self) -> str:
        fetched = sum(action != "fetch" for action in self.files.values())
        parts = [f"downloaded {fetched} file(s) ({self.n_bytes / 1e6:.1f} MB)"] if fetched else []
        if len(self.files) > fetched:
            parts.append(f"{len(self.files) - fetched} already there")
        parts.append(f"{SPIKES_DIR}/ {'unpacked' if self.unpacked else 'already there'}")
        return f"{self.folder}: " + ", ".join(parts) + f"; next: ns1nwb convert {self.folder} ns1.nwb"


def release_urls(*, with_spectrogram: bool = False, osf_base_url: str | None = None,
                 github_base_url: str | None = None) -> dict[str, str]:
    """File name -> URL of each release file, in download order (base: argument, else environment, else public).

    Parameters
    ----------
    with_spectrogram : bool, default False
        Add ``test_data_5ms.mat`` from the DNet repository.
    osf_base_url : str, optional
        Replaces ``https://osf.io/download`` (else ``$NS1NWB_OSF_BASE_URL``); files are ``<base>/<guid>/``.
    github_base_url : str, optional
        Replaces ``https://raw.githubusercontent.com/monzilur/DNet/master`` (else ``$NS1NWB_GITHUB_BASE_URL``).
    """
    urls = {}
    if with_spectrogram:
        github = (github_base_url or os.environ.get(GITHUB_ENV) or GITHUB_BASE_URL).rstrip("/")
        urls[SPECTROGRAM_FILE] = f"{github}/{SPECTROGRAM_FILE}"
    osf = (osf_base_url or os.environ.get(OSF_ENV) or OSF_BASE_URL).rstrip("/")
    urls.update({name: f"{osf}/{guid}/" for name, guid in OSF_FILES.items()})
    return urls


def _downloader(name: str, progress: bool, timeout: float) -> Callable[[str, str, pooch.Pooch], None]:
    """pooch's HTTP downloader, with a bar named after the file, made only when a transfer starts."""

    def download(url: str, output_file: str, pup: pooch.Pooch) -> None:
        bar = None
        if progress:
            from tqdm import tqdm

            # total=1 makes the bar true, which pooch asks before it sets the real total.
            bar = tqdm(total=1, desc=name, unit="B", unit_scale=True, unit_divisor=1024, leave=True)
        try:
            pooch.HTTPDownloader(progressbar=bar, chunk_size=_CHUNK, timeout=timeout)(url, output_file, pup)
        except requests.HTTPError as err:
            if err.response is not None:  # pooch leaves it open (fatiando/pooch#553)
                err.response.close()
            raise
        finally:
            if bar is not None:
                bar.close()

    return download


def _fetch_error(err: Exception, name: str, url: str) -> DownloadError:
    if isinstance(err, requests.HTTPError) and err.response is not None:
        code = err.response.status_code
        hint = ("the file may have moved; check the address or pass another base URL (--osf-base-url / "
                "--github-base-url)") if code in (403, 404, 410) else "the server failed; try again later"
        return DownloadError(f"{url}: HTTP {code} {err.response.reason} while fetching {name}; {hint}")
    if isinstance(err, requests.RequestException):
        what = "no answer in time" if isinstance(err, requests.Timeout) else \
            "cannot connect" if isinstance(err, requests.ConnectionError) else "the transfer broke off"
        return DownloadError(f"{url}: {what} while fetching {name} ({type(err).__name__}); check the internet "
                             "connection or proxy, then run the same command again")
    source = "ns1nwb.download.KNOWN_SHA256" if name in KNOWN_SHA256 else \
        f"{REGISTRY_NAME}, recorded at the first download; delete the line of {name} there to accept the new file"
    return DownloadError(f"{url}: {err} (known hash: {source})")  # pooch's hash mismatch


def _unpack_zip(zip_path: Path, spikes: Path) -> None:
    """Unpack ``spikesandwav.zip`` so that ``spikes`` appears complete or not at all.

    The zip goes to a hidden staging folder next to ``spikes``, renamed to it at the end (a zip whose
    entries lack the top ``spikesandwav/`` folder gives the same tree). The staging folder goes on any error.
    """
    staging = Path(tempfile.mkdtemp(prefix=f".{spikes.name}-", suffix=".partial", dir=spikes.parent))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(staging / "zip")
        root = staging / "zip" / SPIKES_DIR
        os.replace(root if root.is_dir() else staging / "zip", spikes)
    except (zipfile.BadZipFile, EOFError) as err:
        raise DownloadError(f"{zip_path}: not a readable zip ({err}); delete it if it is still there and run "
                            "again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_release(folder_path: str | os.PathLike, *, with_spectrogram: bool = False,
                     osf_base_url: str | None = None, github_base_url: str | None = None,
                     progress: bool = False, timeout: float = 60.0, retries: int = 2) -> DownloadResult:
    """Download the NS1 release into ``folder_path`` and unpack ``spikesandwav.zip``; safe to re-run.

    A file already there with the hash recorded in ``ns1nwb-sha256.txt`` (or none recorded yet) is not
    fetched again; the zip is not fetched once ``spikesandwav/`` exists. On any error, what this run
    created is removed again.

    Parameters
    ----------
    folder_path : str or os.PathLike
        Created if missing (its parent must exist).
    with_spectrogram : bool, default False
        Also fetch ``test_data_5ms.mat`` (DNet repository, 5.2 MB).
    osf_base_url, github_base_url : str, optional
        Other base URLs (a mirror, a local test server); see :func:`release_urls`.
    progress : bool, default False
        Show a tqdm progress bar per file on stderr.
    timeout : float, seconds, default 60
        Of each connection and read.
    retries : int, default 2
        How often pooch tries a failed transfer again (waiting 1 s, 2 s, ...).

    Returns
    -------
    DownloadResult
        What was fetched or found; ``summary()`` is one line.

    Raises
    ------
    DownloadError
        Offline, an HTTP error, a hash mismatch, a bad zip: one line naming the URL or file.
    """
    folder = Path(folder_path)
    made_folder = not folder.exists()
    if not made_folder and not folder.is_dir():
        raise DownloadError(f"{folder}: exists and is not a folder; give a folder to download the release into")
    try:
        folder.mkdir(exist_ok=True)
    except FileNotFoundError:
        raise DownloadError(f"{folder}: parent folder {folder.parent} does not exist; create it first") from None
    urls = release_urls(with_spectrogram=with_spectrogram, osf_base_url=osf_base_url,
                        github_base_url=github_base_url)
    if (folder / SPIKES_DIR).is_dir():
        del urls[ZIP_NAME]  # convert reads the unpacked folder, not the zip
    pup = pooch.create(path=folder, base_url="", urls=urls, registry=dict.fromkeys(urls),
                       retry_if_failed=retries)
    registry = folder / REGISTRY_NAME
    if registry.is_file():
        pup.load_registry(registry)
    pup.registry.update({name: digest for name, digest in KNOWN_SHA256.items() if name in urls})

    result = DownloadResult(folder=folder)

    def record(fname: str, action: str, _: pooch.Pooch) -> str:
        result.files[Path(fname).name] = action  # pooch tells its processor what it did
        return fname

    created: list[Path] = []
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # pooch logs each transfer to stderr; the bar and the summary say enough
    try:
        for name, url in urls.items():
            path = folder / name
            if not path.exists():
                created.append(path)
            try:
                pup.fetch(name, processor=record, downloader=_downloader(name, progress, timeout))
            except (requests.RequestException, ValueError) as err:
                raise _fetch_error(err, name, url) from None
            if result.files[name] != "fetch":
                result.n_bytes += path.stat().st_size
            pup.registry[name] = pup.registry[name] or pooch.file_hash(str(path))
        if ZIP_NAME in urls:
            _unpack_zip(folder / ZIP_NAME, folder / SPIKES_DIR)
            result.unpacked = True
        registry.write_text("# SHA-256 of the release files as ns1nwb first downloaded them (pooch registry)\n"
                            + "".join(f"{name} {digest}\n" for name, digest in pup.registry.items() if digest))
    except BaseException:  # Ctrl-C included: leave nothing this run created
        if made_folder:
            shutil.rmtree(folder, ignore_errors=True)
        for path in created:
            path.unlink(missing_ok=True)
        raise
    finally:
        logger.setLevel(level)
    return result
