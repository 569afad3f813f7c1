"""``ns1nwb download`` against a local HTTP server on 127.0.0.1 (never the real network).

The server serves a generated tree zipped in the release layout, redirects the OSF
``/<guid>/`` addresses like osf.io does, honours ``Range`` and can cut a transfer
short, ignore ``Range`` or answer 404. ``serve_files`` is reused by test_interop.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import stat
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from ns1nwb.cli import cli
from ns1nwb.download import MANIFEST_NAME, OSF_FILES, download_release, release_files, unpack_zip
from ns1nwb.exceptions import DownloadError, Ns1Error, Ns1Warning, UnsafeArchiveError

# --------------------------------------------------------------------------- a local server with Range


@dataclass
class FileServer:
    """State of a running local server: what it serves, what it was asked, which faults to inject."""

    routes: dict[str, Path]
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: path -> bytes after which the next GET of it is cut (one shot each).
    cut_after: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    base_url: str = ""

    def gets(self, path_part: str = "") -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == "GET" and path_part in r[1]]


class _Handler(BaseHTTPRequestHandler):
    state: FileServer  # set per server class

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        state = self.state
        path = self.path.split("?", 1)[0]
        state.requests.append((self.command, path, self.headers.get("Range")))
        if path in state.redirects:
            self.send_response(302)
            self.send_header("Location", state.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        file = state.routes.get(path)
        if file is None:
            self.send_error(404, "Not Found")
            return
        size = file.stat().st_size
        start, stop = 0, size  # [start, stop)
        header = None if state.ignore_range else self.headers.get("Range")
        if header:
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
            if not match or match.groups() == ("", ""):
                self.send_error(400, "bad range")
                return
            first, last = match.groups()
            if first:
                start = int(first)
                stop = min(size, int(last) + 1) if last else size
            else:
                start = max(0, size - int(last))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(stop - start))
        self.end_headers()
        if head:
            return
        limit = stop - start
        if not head and path in state.cut_after:
            limit = min(limit, state.cut_after.pop(path))
        with file.open("rb") as handle:
            handle.seek(start)
            remaining = limit
            while remaining > 0:
                chunk = handle.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                remaining -= len(chunk)
        if limit < stop - start:  # drop the connection mid-transfer
            self.wfile.flush()
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True


@contextlib.contextmanager
def serve_files(routes: dict[str, Path], redirects: dict[str, str] | None = None) -> Iterator[FileServer]:
    """Serve ``routes`` (URL path -> file) on 127.0.0.1 in a thread, with Range support."""
    state = FileServer(routes=dict(routes), redirects=dict(redirects or {}))
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused: 'offline')."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- the release, generated


@dataclass
class Release:
    tree: Path  # the generated raw tree the zip was made from
    files: dict[str, Path]  # release file name -> file to serve


def _zip_tree(tree: Path, out: Path, *, prefix: str = "spikesandwav") -> Path:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted((tree / "spikesandwav").rglob("*")):
            name = f"{prefix}/{path.relative_to(tree / 'spikesandwav').as_posix()}".lstrip("/")
            if path.is_dir():
                archive.writestr(name + "/", b"")
            else:
                archive.write(path, name)
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    from ns1nwb.sample_data import write_sample_tree

    base = tmp_path_factory.mktemp("release")
    tree = write_sample_tree(base / "tree", n_units=2, seed=3)
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


def _routes(release: Release) -> tuple[dict[str, Path], dict[str, str]]:
    """OSF-like: /osf/<guid>/ redirects to /storage/<name>; GitHub-like: /gh/<name>."""
    routes = {f"/storage/{name}": path for name, path in release.files.items()}
    routes["/gh/test_data_5ms.mat"] = release.files["test_data_5ms.mat"]
    redirects = {f"/osf/{guid}/": f"/storage/{name}" for name, guid in OSF_FILES.items()}
    return routes, redirects


@pytest.fixture()
def server(release: Release) -> Iterator[FileServer]:
    routes, redirects = _routes(release)
    with serve_files(routes, redirects) as state:
        yield state


def _urls(server: FileServer) -> dict[str, str]:
    return {"osf_base_url": f"{server.base_url}/osf", "github_base_url": f"{server.base_url}/gh"}


def _tree_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- tests


def test_release_files_use_the_public_addresses_by_default(monkeypatch):
    monkeypatch.delenv("NS1NWB_OSF_BASE_URL", raising=False)
    monkeypatch.delenv("NS1NWB_GITHUB_BASE_URL", raising=False)
    urls = {f.name: f.url for f in release_files(with_spectrogram=True)}
    assert urls == {
        "MetadataSHEnCneurons.mat": "https://osf.io/download/gdwyd/",
        "spikesandwav.zip": "https://osf.io/download/5nxga/",
        "ReadMe.rtf": "https://osf.io/download/f3rtm/",
        "test_data_5ms.mat": "https://raw.githubusercontent.com/monzilur/DNet/master/test_data_5ms.mat",
    }
    assert "test_data_5ms.mat" not in {f.name for f in release_files()}


def test_download_makes_the_release_tree_then_does_nothing(server, release, tmp_path):
    out = tmp_path / "NS1"
    result = download_release(out, with_spectrogram=True, **_urls(server))
    assert set(result.files.values()) == {"downloaded"}
    assert "unpacked" in result.unpacked and "ns1nwb convert" in result.summary()
    # The same files as the generated tree, byte for byte, in the layout convert reads.
    got = _tree_files(out)
    want = _tree_files(release.tree)
    for name, digest in want.items():
        assert got[name] == digest, name
    assert {"ReadMe.rtf", "spikesandwav.zip", MANIFEST_NAME} <= set(got)
    assert not list(out.glob("*.part")) and not list(out.glob(".*partial*"))
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    zip_bytes = release.files["spikesandwav.zip"].read_bytes()
    assert manifest["files"]["spikesandwav.zip"]["sha256"] == hashlib.sha256(zip_bytes).hexdigest()
    assert manifest["files"]["spikesandwav.zip"]["size"] == len(zip_bytes)
    # Redirects were followed like osf.io's.
    assert any(r[1] == "/osf/5nxga/" for r in server.requests)

    server.requests.clear()
    again = download_release(out, with_spectrogram=True, **_urls(server))
    assert set(again.files.values()) == {"verified"} and again.unpacked == "already unpacked"
    assert server.requests == []  # idempotent: not a single request

    from ns1nwb import read_raw_tree

    assert len(read_raw_tree(out).units) == 2


def test_interrupted_download_resumes_with_range(server, release, tmp_path):
    out = tmp_path / "NS1"
    size = release.files["spikesandwav.zip"].stat().st_size
    server.cut_after["/storage/spikesandwav.zip"] = size // 3
    with pytest.raises(DownloadError) as err:
        download_release(out, **_urls(server))
    message = str(err.value)
    assert "/osf/5nxga/" in message and "resume" in message and "\n" not in message
    part = out / "spikesandwav.zip.part"
    assert part.stat().st_size == size // 3
    assert not (out / "spikesandwav.zip").exists() and not (out / "spikesandwav").exists()
    assert (out / "MetadataSHEnCneurons.mat").is_file()  # finished before the cut, kept

    server.requests.clear()
    result = download_release(out, **_urls(server))
    assert result.files["spikesandwav.zip"] == "resumed" and result.files["MetadataSHEnCneurons.mat"] == "verified"
    assert result.n_bytes == size - size // 3 + (out / "ReadMe.rtf").stat().st_size
    assert ("GET", "/storage/spikesandwav.zip", f"bytes={size // 3}-") in server.requests
    assert (out / "spikesandwav.zip").read_bytes() == release.files["spikesandwav.zip"].read_bytes()
    assert (out / "spikesandwav").is_dir() and not part.exists()


def test_progress_bar_on_request(server, tmp_path, capsys):
    import threading

    before = {t.ident for t in threading.enumerate()}
    download_release(tmp_path / "NS1", progress=True, **_urls(server))
    err = capsys.readouterr().err
    assert "spikesandwav.zip" in err and "100%" in err
    # No thread left behind (tqdm's monitor thread would turn the forked, isolated write off for good).
    assert [t.name for t in threading.enumerate() if t.ident not in before and t.name == "tqdm_monitor"] == []


def test_a_server_ignoring_range_restarts_the_file(server, release, tmp_path):
    out = tmp_path / "NS1"
    out.mkdir()
    (out / "ReadMe.rtf.part").write_bytes(b"stale bytes that must not stay")
    server.ignore_range = True
    result = download_release(out, **_urls(server))
    assert result.files["ReadMe.rtf"] == "downloaded"
    assert (out / "ReadMe.rtf").read_bytes() == release.files["ReadMe.rtf"].read_bytes()


def test_a_complete_part_is_finished_without_refetching(server, release, tmp_path):
    out = tmp_path / "NS1"
    out.mkdir()
    (out / "ReadMe.rtf.part").write_bytes(release.files["ReadMe.rtf"].read_bytes())
    result = download_release(out, **_urls(server))
    assert result.files["ReadMe.rtf"] == "resumed"
    assert (out / "ReadMe.rtf").read_bytes() == release.files["ReadMe.rtf"].read_bytes()


def test_a_changed_file_is_fetched_again_with_a_warning(server, release, tmp_path):
    out = tmp_path / "NS1"
    download_release(out, **_urls(server))
    (out / "MetadataSHEnCneurons.mat").write_bytes(b"corrupted")
    with pytest.warns(Ns1Warning, match="MetadataSHEnCneurons.mat.*differs"):
        result = download_release(out, **_urls(server))
    assert result.files["MetadataSHEnCneurons.mat"] == "downloaded"
    assert (out / "MetadataSHEnCneurons.mat").read_bytes() == release.files["MetadataSHEnCneurons.mat"].read_bytes()


def test_files_already_there_are_kept_and_recorded(server, release, tmp_path):
    out = tmp_path / "NS1"
    out.mkdir()
    (out / "ReadMe.rtf").write_bytes(release.files["ReadMe.rtf"].read_bytes())
    result = download_release(out, **_urls(server))
    assert result.files["ReadMe.rtf"] == "kept"
    assert not server.gets("ReadMe")
    assert "ReadMe.rtf" in json.loads((out / MANIFEST_NAME).read_text())["files"]


def test_a_deleted_zip_is_not_fetched_again_once_unpacked(server, tmp_path):
    out = tmp_path / "NS1"
    download_release(out, **_urls(server))
    (out / "spikesandwav.zip").unlink()
    server.requests.clear()
    result = download_release(out, **_urls(server))
    assert result.files["spikesandwav.zip"] == "verified" and server.requests == []


def test_offline_is_one_clear_line(tmp_path):
    base = closed_port_url()
    with pytest.raises(DownloadError) as err:
        download_release(tmp_path / "NS1", osf_base_url=base, github_base_url=base, timeout=5)
    message = str(err.value)
    assert message.startswith(f"{base}/gdwyd/: cannot connect")
    assert "internet" in message and "run the same command again" in message and "\n" not in message


def test_http_404_names_the_url_and_the_option(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/nowhere/gdwyd/: HTTP 404 .*--osf-base-url"):
        download_release(tmp_path / "NS1", osf_base_url=f"{server.base_url}/nowhere")


def test_base_urls_come_from_the_environment(server, release, tmp_path, monkeypatch):
    monkeypatch.setenv("NS1NWB_OSF_BASE_URL", f"{server.base_url}/osf/")
    monkeypatch.setenv("NS1NWB_GITHUB_BASE_URL", f"{server.base_url}/gh")
    result = download_release(tmp_path / "NS1", with_spectrogram=True)
    assert result.files["test_data_5ms.mat"] == "downloaded"
    assert server.gets("/gh/test_data_5ms.mat")


def test_download_refuses_a_file_as_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DownloadError, match="not a folder"):
        download_release(tmp_path / "file", osf_base_url=closed_port_url())


# --------------------------------------------------------------------------- safe unzip


def _evil_zip(path: Path, name: str, *, symlink: bool = False) -> Path:
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
    ("/tmp/evil.txt", False),
    ("C:\\evil.txt", False),
    ("spikesandwav\\..\\..\\evil.txt", False),
    ("spikesandwav/link", True),
])
def test_unsafe_zip_entries_are_refused(tmp_path, name, symlink):
    archive = _evil_zip(tmp_path / "spikesandwav.zip", name, symlink=symlink)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeArchiveError) as err:
        unpack_zip(archive, out)
    assert repr(name) in str(err.value) and str(archive) in str(err.value)
    assert isinstance(err.value, Ns1Error)
    assert list(out.iterdir()) == []  # nothing written, not even the safe entry
    assert not (tmp_path / "evil.txt").exists()


def test_unsafe_zip_from_the_server_stops_the_download(tmp_path, release):
    evil = _evil_zip(tmp_path / "evil.zip", "../escape.txt")
    files = dict(release.files, **{"spikesandwav.zip": evil})
    routes, redirects = _routes(Release(tree=release.tree, files=files))
    with serve_files(routes, redirects) as state:
        result = CliRunner().invoke(cli, ["download", str(tmp_path / "NS1"), "--osf-base-url",
                                          f"{state.base_url}/osf"])
    assert result.exit_code == 2
    assert "'../escape.txt'" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "NS1" / "spikesandwav").exists()


def test_zip_without_the_top_folder_is_unpacked_inside_it(tmp_path, release):
    archive = _zip_tree(release.tree, tmp_path / "flat.zip", prefix="")
    out = tmp_path / "out"
    out.mkdir()
    n_files = unpack_zip(archive, out)
    assert n_files == len(list((release.tree / "spikesandwav").rglob("*.data.mat"))) + 20
    assert _tree_files(out / "spikesandwav") == _tree_files(release.tree / "spikesandwav")


def test_a_corrupt_zip_says_to_delete_it(tmp_path):
    (tmp_path / "spikesandwav.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DownloadError, match="delete it"):
        unpack_zip(tmp_path / "spikesandwav.zip", tmp_path)


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
    assert again.exit_code == 0 and "4 already there" in again.output


def test_cli_download_offline_exit_code_2(tmp_path):
    base = closed_port_url()
    result = CliRunner().invoke(cli, ["download", str(tmp_path / "NS1"), "--osf-base-url", base])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {base}/gdwyd/: cannot connect") and result.stderr.count("\n") == 1
