"""The ``ns1nwb`` command line: each sub-command parses its options and calls one library function.

Heavy imports (scipy, pynwb) happen inside the commands so ``--help`` stays fast.
Errors ns1nwb raises on purpose become one line on stderr and exit code 2 (bad
input) or 1 (internal); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import click

from ._version import __version__


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    from .exceptions import Ns1Warning

    if issubclass(category, Ns1Warning):
        click.echo(f"warning: {message}", err=True)
    else:  # third-party warnings stay out of the user's way unless --debug
        if _DEBUG:
            click.echo(f"{category.__name__}: {message} ({filename}:{lineno})", err=True)


_DEBUG = False


def _show_progress() -> bool:
    """Progress bars (on stderr) only on a terminal: a log file or a pipe gets none."""
    return sys.stderr.isatty()


def _handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """The one boundary: ns1nwb errors, OS errors, Ctrl-C and termination signals become one line on stderr
    and an exit code (2 bad input, 1 internal error or interrupted); ``--debug`` shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .exceptions import Ns1Error, OutputComplete

        warnings.showwarning = _print_warning
        where = kwargs.get("output")
        _STOPS_RECEIVED.clear()  # (a process may run several commands: the tests do)
        try:
            result = command(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt as err:
            if _DEBUG:
                raise
            if isinstance(err, OutputComplete):  # too late to stop anything: say what is there
                click.echo(f"error: interrupted after the output was written; {where or 'it'} is complete",
                           err=True)
            else:
                click.echo(f"error: interrupted; nothing was written{f' at {where}' if where else ''}", err=True)
            sys.exit(1)
        except Exception as err:
            if _DEBUG:
                raise
            if _STOPS_RECEIVED:  # a stop that a callback swallowed, then failed what it interrupted
                click.echo(f"error: interrupted; nothing was written{f' at {where}' if where else ''}", err=True)
                sys.exit(1)
            if isinstance(err, Ns1Error):
                click.echo(f"error: {err}", err=True)
                sys.exit(err.exit_code)
            if isinstance(err, OSError):
                place = f"{err.filename}: " if getattr(err, "filename", None) else ""
                click.echo(f"error: {place}{err.strerror or err}", err=True)
                sys.exit(2)
            # A bug in ns1nwb: say so, briefly.
            click.echo(f"error: internal error ({type(err).__name__}: {err}); rerun with --debug and report it",
                       err=True)
            sys.exit(1)
        if _STOPS_RECEIVED:  # a stop whose KeyboardInterrupt a finaliser swallowed: the command ran to its end
            click.echo(f"error: interrupted after the output was written; {where} is complete" if where
                       else "error: interrupted", err=True)
            sys.exit(1)
        return result

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ns1nwb")
@click.option("--debug", is_flag=True, help="Show full tracebacks and third-party warnings.")
def cli(debug: bool) -> None:
    """Convert the NS1 ferret auditory-cortex release to NWB and read it back."""
    global _DEBUG
    _DEBUG = debug


@cli.command("sample-data")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--units", "n_units", type=click.IntRange(min=1, max=600), default=8, show_default=True,
              help="Number of synthetic units (at most 600, the size of the whole release).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed, a whole number >= 0 (same seed, same files).")
@click.option("--no-spectrogram", is_flag=True, help="Do not write test_data_5ms.mat.")
@_handle_errors
def sample_data_command(folder: Path, n_units: int, seed: int, no_spectrogram: bool) -> None:
    """Write a synthetic raw NS1 tree (same layout and MAT structure as the release) to FOLDER."""
    from .sample_data import write_sample_tree

    write_sample_tree(folder, n_units=n_units, seed=seed, with_spectrogram=not no_spectrogram)
    click.echo(f"wrote a synthetic NS1 tree with {n_units} units to {folder}")


def _audio_rate(ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    from .conversion import parse_audio_rate

    try:
        return parse_audio_rate(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@cli.command("convert")
@click.argument("raw", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--metadata", "metadata_path", type=click.Path(path_type=Path),
              help="YAML file with subject / session / lab metadata (see schemas/metadata.schema.json).")
@click.option("--audio-rate", default="native", show_default=True, callback=_audio_rate,
              help="'native': store each sound as played (its 48828.125 Hz samples); a rate in Hz stores it "
                   "resampled, a smaller file.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--strict", is_flag=True, help="Turn every warning (e.g. a skipped spike file) into an error.")
@click.option("--dandi", is_flag=True,
              help="Write OUTPUT as a folder with one file per recording block in DANDI's layout "
                   "(sub-<subject>/sub-<subject>_ses-<session>_ecephys.nwb); other files there are kept.")
@click.option("--dandiset-id", metavar="ID",
              help="With --dandi: write a minimal dandiset.yaml (identifier DANDI:ID) if the folder has none.")
@click.option("--all-clusters", is_flag=True,
              help="Convert every sorted cluster under spikesandwav/ (596 in the release), not only the 119 units "
                   "of the metadata; each gets in_metadata and its clusterquality.mat code.")
@_handle_errors
def convert_command(raw: Path, output: Path, metadata_path: Path | None, audio_rate: float | None,
                    overwrite: bool, strict: bool, dandi: bool, dandiset_id: str | None, all_clusters: bool) -> None:
    """Convert the raw NS1 release in RAW into the NWB file OUTPUT (or a DANDI folder with --dandi)."""
    from .conversion import convert

    from .exceptions import OutputComplete

    result = convert(raw, output, metadata_path=metadata_path, audio_rate_hz=audio_rate, overwrite=overwrite,
                     strict=strict, progress=_show_progress(), dandi=dandi, dandiset_id=dandiset_id,
                     all_clusters=all_clusters)
    try:
        click.echo(result.summary())
    except KeyboardInterrupt:
        raise OutputComplete(result.output_paths) from None


@cli.command("inspect")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--max-messages", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many findings to list.")
@_handle_errors
def inspect_command(path: Path, max_messages: int) -> None:
    """Run the NWB Inspector (DANDI configuration) on a file or folder; exit 1 on CRITICAL findings."""
    from .dandi import inspect_path

    summary = inspect_path(path, progress=True)
    click.echo(summary.report(max_messages))
    if summary.n_critical:
        sys.exit(1)


@cli.command("download")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--with-spectrogram", is_flag=True,
              help="Also fetch test_data_5ms.mat (the spectrograms of Rahman et al. 2019) from the DNet repository.")
@click.option("--osf-base-url", metavar="URL",
              help="Instead of https://osf.io/download (files are URL/<guid>/); or set NS1NWB_OSF_BASE_URL.")
@click.option("--github-base-url", metavar="URL",
              help="Instead of https://raw.githubusercontent.com/monzilur/DNet/master; "
                   "or set NS1NWB_GITHUB_BASE_URL.")
@_handle_errors
def download_command(folder: Path, with_spectrogram: bool, osf_base_url: str | None,
                     github_base_url: str | None) -> None:
    """Download the NS1 release from OSF into FOLDER and unpack spikesandwav.zip (safe to re-run).

    Files already there are checked (SHA-256 in FOLDER/ns1nwb-sha256.txt) and not fetched
    again; a failed transfer is tried again, and a failed run leaves nothing it created.
    """
    from .download import download_release

    result = download_release(folder, with_spectrogram=with_spectrogram, osf_base_url=osf_base_url,
                              github_base_url=github_base_url, progress=_show_progress())
    click.echo(result.summary())


#: Image formats ``plot`` writes, by suffix.
IMAGE_SUFFIXES = (".png", ".pdf", ".svg")
#: Highest ``plot --dpi``: a 9x7.5-inch figure at 2000 dpi is already 270 megapixels.
MAX_DPI = 2000


def _image_name(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    # The suffix picks the format: refuse a name matplotlib would extend or reject (`-o noext`).
    if value is not None and value.suffix.lower() not in IMAGE_SUFFIXES:
        raise click.BadParameter(f"{str(value)!r} does not end in {', '.join(IMAGE_SUFFIXES)} (the suffix picks "
                                 "the format)")
    return value


@cli.command("plot")
@click.argument("file")  # a str: it may be an http(s) URL
@click.option("--unit", "-u", required=True, help="Unit index (row of rec.units) or unit_name.")
@click.option("--stimulus", "-s", required=True, help="Stimulus index 0-31 or name (nat01..nat20, drc01..drc12).")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=_image_name, help="Image to write (.png, .pdf, .svg).")
@click.option("--dt-ms", type=click.IntRange(min=1, max=4995), default=5, show_default=True,
              help="PSTH bin width in ms (at most the 4995-ms response window).")
@click.option("--no-smooth", is_flag=True, help="Plot the PSTH without the 21-ms Hanning smoothing.")
@click.option("--dpi", type=click.IntRange(min=10, max=MAX_DPI), default=100, show_default=True,
              help="Resolution of a PNG.")
@_handle_errors
def plot_command(file: str, unit: str, stimulus: str, output: Path, dt_ms: int, no_smooth: bool, dpi: int) -> None:
    """Draw a unit's response to one sound in FILE: spectrogram, raster of every repeat, PSTH.

    FILE is a pooled file, a folder of per-session files or an http(s) URL. Needs
    matplotlib (pip install '.[plot]' in the clone).
    """
    from .plot import plot_response

    plot_response(file, unit, stimulus, output, dt_ms=float(dt_ms), smooth=not no_smooth, dpi=dpi)
    click.echo(f"wrote {output}")


@cli.command("info")
@click.argument("path")  # a str: it may be an http(s) URL
@click.option("--inspect/--no-inspect", default=None,
              help="Run the NWB Inspector (about 2 s a file); default: on a file, not on a folder.")
@click.option("--units", "list_units", is_flag=True,
              help="List every unit instead: index (what --unit and response_grid take), name, subject, session, "
                   "quality.")
@_handle_errors
def info_command(path: str, inspect: bool | None, list_units: bool) -> None:
    """Summarise PATH (a file, a folder of per-session files or a URL) in one screen.

    Units, good units, recording blocks, subjects, trials, stimuli, spikes, size, session
    start, clock and notes, and the NWB Inspector's verdict (DANDI configuration).
    """
    from .info import summarize, unit_table

    if list_units:
        click.echo(unit_table(path))
        return
    click.echo(summarize(path, inspect=inspect, progress=True).report())


#: Ctrl-C, and the signals that stop a command as Ctrl-C does: ``timeout`` and batch schedulers (SIGTERM), a
#: closed terminal (SIGHUP). Its temporary files are removed and it says so in one line.
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
#: The stops received: a KeyboardInterrupt raised in a finaliser is swallowed by Python, so the command may
#: run to its end; the boundary then still says it was interrupted (and that its output is complete).
_STOPS_RECEIVED: list[int] = []


def _interrupt(signum: int, frame: Any) -> None:
    _STOPS_RECEIVED.append(signum)
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point."""
    import signal

    stops = [getattr(signal, name) for name in _STOP_SIGNALS if hasattr(signal, name)]
    for signum in stops:
        signal.signal(signum, _interrupt)
    try:
        cli(prog_name="ns1nwb")
    finally:
        # The command has ended: a stop from now on (the interpreter shutting down) ends the process at once,
        # not as a KeyboardInterrupt in a finaliser.
        for signum in stops:
            signal.signal(signum, signal.SIG_DFL)


if __name__ == "__main__":
    main()
