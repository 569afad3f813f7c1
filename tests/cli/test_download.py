"""``ns1nwb download`` against a local HTTP server on 127.0.0.1 (never the real network).

The server (tests/localserver.py) serves a generated tree zipped in the release layout, redirects the OSF
``/<guid>/`` addresses like osf.io does, honours ``Range`` and can cut a transfer
short, ignore ``Range`` or answer 404.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from ns1nwb import download
from ns1nwb.cli import cli
from ns1nwb.download import OSF_FILES, REGISTRY_NAME, download_release, release_urls
from ns1nwb.exceptions import DownloadError
from localserver import FileServer, closed_port_url, serve_files

# --------------------------------------------------------------------------- the release, generated


@dataclass
class Release:
    tree: Path  # the generated raw tree the zip was made from
    files: dict[str, Path]  # release file name -> file to serve


def _zip_tree(tree: Path, out: Path, *, prefix: str = "spikesandwav/") -> Path:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted((tree / "spikesandwav").rglob("*")):
            name = prefix + path.relative_to(tree / "spikesandwav").as_posix()
            if path.is_dir():
                archive.writestr(name + "/", b"")
            else:
                archive.write(path, name)
    return out


@pytest.fixture(scope="module")
def release(base_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The release files of ``base_raw`` (2 units, with test_data_5ms.mat), served as OSF and GitHub would."""
    base = tmp_path_factory.mktemp("release")
    tree = base_raw
    site = base / "site"
    site.mkdir()
    readme = site / "ReadMe.rtf"
    readme.write_text("{\\rtf1 NS1 release (synthetic ReadMe for tests)}\n")
    return Release(tree=tree, files={
        "MetadataSHEnCneurons.mat": tree / "MetadataSHEnCneurons.mat",
        "spikesandwav.zip": _zip_tree(tree, site / "spikesandwav.zip"),
        "ReadMe.rtf": readme,
        "test_data_5ms.mat": tree / "test_data_5ms.mat",
    })


@contextlib.contextmanager
def serve_release(files: dict[str, Path]) -> Iterator[FileServer]:
    """OSF-like: /osf/<guid>/ redirects to /storage/<name>; GitHub-like: /gh/<name>."""
    routes = {f"/storage/{name}": path for name, path in files.items()}
    routes["/gh/test_data_5ms.mat"] = files["test_data_5ms.mat"]
    with serve_files(routes, {f"/osf/{guid}/": f"/storage/{name}" for name, guid in OSF_FILES.items()}) as state:
        yield state


@pytest.fixture()
def server(release: Release) -> Iterator[FileServer]:
    with serve_release(release.files) as state:
        yield state


def _urls(server: FileServer) -> dict[str, str]:
    return {"osf_base_url": f"{server.base_url}/osf", "github_base_url": f"{server.base_url}/gh"}


def _get(server: FileServer, out: Path, **kwargs) -> download.DownloadResult:
    """One run against the local server, without pooch's retries (they wait a second each)."""
    return download_release(out, **(dict(_urls(server), retries=0) | kwargs))


def _tree_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("kwargs, env, osf, github", [
    ({}, {}, "https://osf.io/download", "https://raw.githubusercontent.com/monzilur/DNet/master"),
    ({}, {"OSF": "http://env/osf/", "GITHUB": "http://env/gh"}, "http://env/osf", "http://env/gh"),
    ({"osf_base_url": "http://arg/osf", "github_base_url": "http://arg/gh/"},
     {"OSF": "http://env/osf", "GITHUB": "http://env/gh"}, "http://arg/osf", "http://arg/gh"),
])
def test_release_urls_from_argument_else_environment_else_public(monkeypatch, kwargs, env, osf, github):
    for name in ("OSF", "GITHUB"):
        monkeypatch.delenv(f"NS1NWB_{name}_BASE_URL", raising=False)
        if name in env:
            monkeypatch.setenv(f"NS1NWB_{name}_BASE_URL", env[name])
    urls = release_urls(with_spectrogram=True, **kwargs)
    assert list(urls.items()) == [  # the big zip last
        ("test_data_5ms.mat", f"{github}/test_data_5ms.mat"),
        ("ReadMe.rtf", f"{osf}/f3rtm/"),
        ("MetadataSHEnCneurons.mat", f"{osf}/gdwyd/"),
        ("spikesandwav.zip", f"{osf}/5nxga/"),
    ]
    assert "test_data_5ms.mat" not in release_urls(**kwargs)


def test_download_makes_the_release_tree_then_fetches_nothing(server, release, tmp_path):
    out = tmp_path / "NS1"
    result = _get(server, out, with_spectrogram=True)
    assert set(result.files.values()) == {"download"} and len(result.files) == 4 and result.unpacked
    assert result.n_bytes == sum(p.stat().st_size for p in release.files.values())
    assert "downloaded 4 file(s)" in result.summary() and "ns1nwb convert" in result.summary()
    got, want = _tree_files(out), _tree_files(release.tree)
    assert {name: got.get(name) for name in want} == want  # the layout convert reads, byte for byte
    assert set(got) - set(want) == {"ReadMe.rtf", "spikesandwav.zip", REGISTRY_NAME}
    assert sorted(p.name for p in out.iterdir() if p.name.startswith((".", "tmp"))) == []  # no staging, no temp
    recorded = dict(line.split() for line in (out / REGISTRY_NAME).read_text().splitlines()[1:])
    assert recorded == {name: _sha256(path) for name, path in release.files.items()}
    assert any(r[1] == "/osf/5nxga/" for r in server.requests)  # redirects followed like osf.io's

    server.requests.clear()
    again = _get(server, out, with_spectrogram=True)
    assert set(again.files.values()) == {"fetch"} and not again.unpacked and again.n_bytes == 0
    assert server.requests == []  # not a single request
    assert "3 already there, spikesandwav/ already there" in again.summary()
    assert _tree_files(out) == got

    from ns1nwb import read_raw_tree

    assert len(read_raw_tree(out).units) == 2


def _corrupt_member_zip(release: Release, path: Path) -> Path:
    """A zip whose last entry fails its CRC: extraction stops after writing the others."""
    _zip_tree(release.tree, path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("spikesandwav/zz_last", b"A" * 100)
    path.write_bytes(path.read_bytes().replace(b"A" * 100, b"B" * 100))
    return path


def _not_a_zip(release: Release, path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04 not really a zip")
    return path


@pytest.mark.parametrize("failure, message", [
    ("offline", r"^{closed}/f3rtm/: cannot connect while fetching ReadMe.rtf \(ConnectionError\); check the"),
    ("http 404", r"^{base}/nowhere/f3rtm/: HTTP 404 Not Found while fetching ReadMe.rtf; .*--osf-base-url"),
    ("cut transfer", r"^{base}/osf/5nxga/: the transfer broke off while fetching spikesandwav.zip \(\w+\)"),
    ("pinned hash", r"^{base}/osf/5nxga/: SHA256 hash of downloaded file \(spikesandwav.zip\) does not match.*"
                    r"KNOWN_SHA256"),
    ("not a zip", r"NS1/spikesandwav.zip: not a readable zip"),
    ("bad member", r"NS1/spikesandwav.zip: not a readable zip \(Bad CRC-32 for file 'spikesandwav/zz_last'\)"),
])
def test_a_failed_download_leaves_nothing_behind(release, tmp_path, monkeypatch, failure, message):
    site, out = tmp_path / "site", tmp_path / "NS1"
    site.mkdir()
    files = dict(release.files)
    if failure in ("not a zip", "bad member"):
        make = _not_a_zip if failure == "not a zip" else _corrupt_member_zip
        files["spikesandwav.zip"] = make(release, site / "spikesandwav.zip")
    if failure == "pinned hash":
        monkeypatch.setitem(download.KNOWN_SHA256, "spikesandwav.zip", "0" * 64)
    closed = closed_port_url()
    with serve_release(files) as server:
        if failure == "cut transfer":
            server.cut_after["/storage/spikesandwav.zip"] = 1000
        base = {"offline": closed, "http 404": f"{server.base_url}/nowhere"}.get(failure, f"{server.base_url}/osf")
        with pytest.raises(DownloadError) as err:
            _get(server, out, osf_base_url=base, timeout=5)
    text = str(err.value)
    assert re.search(message.format(closed=re.escape(closed), base=re.escape(server.base_url)), text), text
    assert "\n" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no NS1/, nothing next to it


@pytest.mark.parametrize("failure", ["zip 404", "bad zip member"])
def test_a_failure_in_a_folder_that_was_there_removes_only_what_the_run_made(release, tmp_path, failure):
    out = tmp_path / "NS1"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "ReadMe.rtf").write_bytes(release.files["ReadMe.rtf"].read_bytes())
    files = dict(release.files)
    if failure == "bad zip member":  # the unpack stops half-way: no half spikesandwav/ stays
        files["spikesandwav.zip"] = _corrupt_member_zip(release, tmp_path / "bad.zip")
    with serve_release(files) as server:
        if failure == "zip 404":
            del server.routes["/storage/spikesandwav.zip"]
        with pytest.raises(DownloadError, match="5nxga/: HTTP 404" if failure == "zip 404" else "Bad CRC-32"):
            _get(server, out)
    assert sorted(p.name for p in out.iterdir()) == ["ReadMe.rtf", "notes.txt"]  # metadata fetched, then removed


def test_a_changed_file_is_fetched_again_and_must_match_the_recorded_hash(server, release, tmp_path):
    out = tmp_path / "NS1"
    _get(server, out)
    metadata = out / "MetadataSHEnCneurons.mat"
    metadata.write_bytes(b"corrupted")
    result = _get(server, out)
    assert result.files["MetadataSHEnCneurons.mat"] == "update" and result.files["ReadMe.rtf"] == "fetch"
    assert metadata.read_bytes() == release.files["MetadataSHEnCneurons.mat"].read_bytes()

    # The server now serves other bytes than at the first download: refused, the local file left as it was.
    metadata.write_bytes(b"corrupted")
    server.routes["/storage/MetadataSHEnCneurons.mat"] = release.files["ReadMe.rtf"]
    with pytest.raises(DownloadError) as err:
        _get(server, out)
    text = str(err.value)
    assert text.startswith(f"{server.base_url}/osf/gdwyd/: SHA256 hash of downloaded file") and "\n" not in text
    assert f"{REGISTRY_NAME}, recorded at the first download" in text
    assert metadata.read_bytes() == b"corrupted"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("tmp")) == []


def test_a_broken_transfer_is_tried_again(server, release, tmp_path, monkeypatch):
    import pooch.core

    monkeypatch.setattr(pooch.core.time, "sleep", lambda seconds: None)
    server.cut_after["/storage/spikesandwav.zip"] = 1000
    result = _get(server, tmp_path / "NS1", retries=1)
    assert result.unpacked and len(server.gets("/storage/spikesandwav.zip")) == 2


def test_an_unpacked_folder_means_the_zip_is_not_fetched(server, tmp_path):
    out = tmp_path / "NS1"
    _get(server, out)
    (out / "spikesandwav.zip").unlink()
    server.requests.clear()
    result = _get(server, out)
    assert "spikesandwav.zip" not in result.files and server.requests == []


def _zip_with(path: Path, name: str, *, symlink: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("spikesandwav/SH.En.C/ok", b"fine")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, b"/etc/passwd" if symlink else b"evil")
    return path


@pytest.mark.parametrize("name, symlink", [
    ("../evil.txt", False),
    ("spikesandwav/../../evil.txt", False),
    ("{tmp_path}/evil.txt", False),  # absolute
    ("spikesandwav\\..\\..\\evil.txt", False),
    ("spikesandwav/link", True),
])
def test_unsafe_zip_entries_stay_inside_the_folder(release, tmp_path, name, symlink):
    site, out = tmp_path / "site", tmp_path / "NS1"
    site.mkdir()
    files = dict(release.files, **{"spikesandwav.zip": _zip_with(site / "evil.zip", name.format(tmp_path=tmp_path),
                                                                symlink=symlink)})
    with serve_release(files) as server:
        _get(server, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NS1", "site"]
    assert not (tmp_path / "evil.txt").exists()
    written = list(out.rglob("*"))
    assert all(p.resolve().is_relative_to(out.resolve()) and not p.is_symlink() for p in written)
    assert (out / "spikesandwav" / "SH.En.C" / "ok").read_bytes() == b"fine"


def test_a_zip_without_the_top_folder_gives_the_same_tree(release, tmp_path):
    flat = _zip_tree(release.tree, tmp_path / "flat.zip", prefix="")
    with serve_release(dict(release.files, **{"spikesandwav.zip": flat})) as server:
        _get(server, tmp_path / "NS1")
    assert _tree_files(tmp_path / "NS1" / "spikesandwav") == _tree_files(release.tree / "spikesandwav")


def test_progress_bar_on_request(server, tmp_path, capsys):
    _get(server, tmp_path / "NS1", progress=True)
    err = capsys.readouterr().err
    assert "spikesandwav.zip" in err and "100%" in err


@pytest.mark.parametrize("make, message", [
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "exists and is not a folder"),
    (lambda tmp: tmp / "missing" / "NS1", "parent folder .*missing does not exist"),
])
def test_download_refuses_a_bad_folder(tmp_path, make, message):
    with pytest.raises(DownloadError, match=message):
        download_release(make(tmp_path), osf_base_url=closed_port_url())
    assert not (tmp_path / "missing").exists()


# --------------------------------------------------------------------------- the command


def test_cli_download(server, release, tmp_path):
    out = tmp_path / "NS1"
    args = ["download", str(out), "--osf-base-url", f"{server.base_url}/osf",
            "--github-base-url", f"{server.base_url}/gh", "--with-spectrogram"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "downloaded 4 file(s)" in result.output and "ns1nwb convert" in result.output
    assert (out / "test_data_5ms.mat").is_file() and (out / "spikesandwav" / "SH.En.C").is_dir()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "3 already there" in again.output


def test_cli_download_offline_exit_code_2(tmp_path, monkeypatch):
    import pooch.core

    monkeypatch.setattr(pooch.core.time, "sleep", lambda seconds: None)  # the command's retries, without waiting
    base = closed_port_url()
    result = CliRunner().invoke(cli, ["download", str(tmp_path / "NS1"), "--osf-base-url", base])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {base}/f3rtm/: cannot connect") and result.stderr.count("\n") == 1
    assert not (tmp_path / "NS1").exists()
