"""The first figure of a unit: the sound's spectrogram, the raster of every repeat and the PSTH.

Needs matplotlib (``pip install '.[plot]'`` in the clone). Figures are drawn on matplotlib's
Agg canvas directly (no pyplot), so using this module never changes the user's
backend or opens a window.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .cochleagram import cochleagram_bands
from .constants import DEFAULT_DT_MS, DEFAULT_WINDOW_MS, N_BANDS, RESPONSE_WINDOW_MS
from .exceptions import MissingDependencyError, NwbContentError, OutputError

__all__ = ["plot_response", "response_figure", "psth"]


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("plotting needs matplotlib, which is not installed; "
                                     "pip install matplotlib (or, in the ns1nwb clone, pip install '.[plot]')") from None
    return Figure, FigureCanvasAgg


# --------------------------------------------------------------------------- what is drawn


def _selection(rec: Any, unit: int | str, stimulus: int | str) -> tuple[int, int]:
    """(row of ``rec.units``, stimulus index) from indices, names or digits (the command line gives text).

    Raises
    ------
    NwbContentError
        One line: no such unit or stimulus, or a value that is neither an index nor a name.
    """
    from .read.selection import digits_as_int, stimulus_indices, unit_positions

    def names(table: Any, column: str, what: str) -> Any:
        if column not in table:  # an optional column: an index still selects
            raise NwbContentError(f"{_source(rec)}: no {column} column to find the {what} by name; give its index")
        return table[column]

    try:
        if isinstance(unit, (list, tuple, np.ndarray)):
            raise TypeError(f"one unit is asked for (an index or a unit_name), got {type(unit).__name__}")
        units, stimuli = rec.units, rec.stimuli
        position = unit_positions([digits_as_int(unit)], len(units), lambda: names(units, "unit_name", "unit"))[0]
        index = stimulus_indices([digits_as_int(stimulus)], len(stimuli),
                                 lambda: names(stimuli, "stimulus_name", "stimulus"))[0]
    except NwbContentError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise NwbContentError(f"{err.args[0] if err.args else err}; `ns1nwb info FILE --units` lists them") from None
    return position, index


def _source(rec: Any) -> str:
    """The file a recording's stimuli and unit labels come from (the first of a folder's)."""
    return rec.files[0].source


def _label(table: Any, column: str, row: Any, fallback: str) -> str:
    """``table[column][row]`` as text; ``fallback`` when the file has no such column or no value there."""
    value = table[column].loc[row] if column in table else None
    return fallback if value is None or (isinstance(value, float) and np.isnan(value)) or value == "" else str(value)


def _stored_spectrogram(rec: Any, index: int) -> np.ndarray | None:
    """The stimulus' stored (34, T) spectrogram; None when the file has none for it (a dynamic random chord).

    Raises
    ------
    NwbContentError
        The file names a spectrogram that is missing or not (34, T) frames: the damaged-file error, naming it.
    """
    from .read.checks import damaged

    name = rec.stimuli["spectrogram_series"].loc[index] if "spectrogram_series" in rec.stimuli else ""
    if not name or not isinstance(name, str):
        return None
    try:
        spec = rec.spectrogram(index)
    except (KeyError, IndexError, TypeError, ValueError, OSError) as err:
        detail = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise damaged(_source(rec), f"stimulus {index}'s spectrogram {name!r} cannot be read: {detail}") from None
    if spec.ndim != 2 or spec.shape[0] != N_BANDS or not spec.shape[1]:
        raise damaged(_source(rec), f"stimulus {index}'s spectrogram {name!r} has {spec.shape} values, not "
                                    f"{N_BANDS} bands by frames")
    return spec


def psth(rec: Any, unit: int | str, stimulus: int | str, *, dt_ms: float = DEFAULT_DT_MS, smooth: bool = True,
         window_ms: float = DEFAULT_WINDOW_MS) -> tuple[np.ndarray, np.ndarray]:
    """Mean firing rate over repeats, in spikes/s, from :meth:`Recording.response_grid`.

    The grid's smoothing kernel is the seed's unnormalised ``np.hanning(K)`` (its taps sum
    to 2 at the default 5-ms bins), so the smoothed counts are divided by the kernel's sum
    as well as by the bin width: the rate is then in true spikes/s.

    Parameters
    ----------
    rec : Recording
    unit : int or str
        Row of ``rec.units`` or a ``unit_name``.
    stimulus : int or str
        Stimulus index (0-31) or name (``nat01``...).
    dt_ms : float, whole milliseconds, default 5

    Returns
    -------
    t_ms : np.ndarray, shape (T,)
        Bin centres, ms after sound onset.
    rate_hz : np.ndarray, float64, shape (T,)
        Spikes/s averaged over the repeats the unit's block has (NaN presentations skipped).
    """
    position, index = _selection(rec, unit, stimulus)
    grid = rec.response_grid(units=[position], stimuli=[index], dt_ms=dt_ms, smooth=smooth, window_ms=window_ms)
    return _rate(grid[0, 0], dt_ms=dt_ms, smooth=smooth, window_ms=window_ms)


def _rate(responses: np.ndarray, *, dt_ms: float, smooth: bool, window_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres ms, spikes/s) from one unit's (R, T) grid of one stimulus; all-NaN repeats skipped."""
    from .read import hanning_kernel

    counts = responses.astype(np.float64)  # (repeats, T)
    present = ~np.isnan(counts).all(axis=1)
    mean = counts[present].mean(axis=0) if present.any() else np.full(counts.shape[1], np.nan)
    gain = float(hanning_kernel(window_ms, dt_ms).sum()) if smooth else 1.0
    rate = mean / (dt_ms / 1000.0) / gain
    t_ms = (np.arange(counts.shape[1]) + 0.5) * dt_ms
    return t_ms, rate


def _band_cell_edges_hz() -> np.ndarray:
    """Where each band's row of the image starts and ends, Hz, shape (35,).

    The cochleagram's triangular bands overlap by half (each one's feet are its neighbours' centres), so the
    rows are drawn between the points where adjacent triangles cross, half-way in log frequency between
    their centres; the outer rows end half-way to the outer feet.
    """
    centres, edges = cochleagram_bands()
    return np.sqrt(np.concatenate([[edges[0, 0]], centres]) * np.concatenate([centres, [edges[-1, 1]]]))


def response_figure(rec: Any, unit: int | str, stimulus: int | str, *, dt_ms: float = DEFAULT_DT_MS,
                    smooth: bool = True, window_ms: float = DEFAULT_WINDOW_MS,
                    figsize: tuple[float, float] = (9.0, 7.5)) -> Any:
    """A matplotlib Figure: spectrogram (top), raster of every repeat (middle), smoothed PSTH (bottom).

    Parameters
    ----------
    rec : Recording
        From :func:`ns1nwb.open`.
    unit : int or str
        Row of ``rec.units`` or a ``unit_name``.
    stimulus : int or str
        Stimulus index (0-31) or name. Dynamic random chords (20-31) have no stored
        spectrogram; their top panel says so.
    dt_ms, smooth, window_ms
        PSTH binning, as in :meth:`Recording.response_grid`.
    figsize : (float, float), inches

    Returns
    -------
    matplotlib.figure.Figure
        On an Agg canvas (``fig.savefig`` works; nothing is shown).
    """
    Figure, FigureCanvasAgg = _matplotlib()
    from matplotlib.ticker import FixedLocator, NullLocator

    position, index = _selection(rec, unit, stimulus)
    units, stimuli = rec.units, rec.stimuli
    # Names and category are labels: a file without them still plots (by index).
    unit_name = _label(units, "unit_name", units.index[position], "(no unit_name)")
    stimulus_name = _label(stimuli, "stimulus_name", index, f"stimulus {index}")
    category = _label(stimuli, "sound_category", index, "category unknown")
    # The unit's own repeats (an all-clusters file has units with fewer than the stimulus' nominal count).
    grid = rec.response_grid(units=[position], stimuli=[index], dt_ms=dt_ms, smooth=smooth, window_ms=window_ms)
    n_repeats = grid.shape[2]
    window = float(RESPONSE_WINDOW_MS)

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    ax_spec, ax_raster, ax_psth = fig.subplots(3, 1, sharex=True, height_ratios=[1.1, 1.0, 0.9])

    # Spectrogram: the authors' cochleagram, 5-ms frames, 34 bands at 1/6 octave from 500 Hz (log frequency).
    spec = _stored_spectrogram(rec, index)
    if spec is not None:
        t_edges = np.arange(spec.shape[1] + 1) * (window / spec.shape[1])
        cell_edges = _band_cell_edges_hz()
        mesh = ax_spec.pcolormesh(t_edges, cell_edges, spec, shading="flat", cmap="magma", rasterized=True)
        ax_spec.set_yscale("log")
        ticks = [500, 1000, 2000, 4000, 8000, 16000]
        ax_spec.yaxis.set_major_locator(FixedLocator(ticks))
        ax_spec.yaxis.set_minor_locator(NullLocator())
        ax_spec.set_yticklabels([str(t) for t in ticks])
        ax_spec.set_ylim(cell_edges[0], cell_edges[-1])
        fig.colorbar(mesh, ax=ax_spec, label="level (dB re 1)", pad=0.01)
        ax_spec.set_title(f"cochleagram ('spec-log', Rahman et al.): {spec.shape[0]} bands, "
                          f"{spec.shape[1]} frames", fontsize="small", loc="right")
    else:
        ax_spec.text(0.5, 0.5, f"no stored spectrogram for {stimulus_name}\n"
                               "(the release has no waveforms of the dynamic random chords)",
                     ha="center", va="center", transform=ax_spec.transAxes)
        ax_spec.set_yticks([])
    ax_spec.set_ylabel("frequency (Hz)")

    # Raster: every repeat of the unit's block, ms after onset.
    trains, rows = [], []
    for repeat in range(n_repeats):
        try:
            times = rec.trial_spike_times_ms(position, index, repeat)
        except KeyError:  # presentation missing from the unit's block
            continue
        trains.append(times[(times >= 0) & (times < window)])
        rows.append(repeat)
    if trains:
        ax_raster.eventplot(trains, lineoffsets=rows, linelengths=0.8, linewidths=0.8, colors="black")
    ax_raster.set_ylim(-0.5, max(n_repeats, 1) - 0.5)
    ax_raster.invert_yaxis()
    ax_raster.set_ylabel("repeat")
    n_spikes = int(sum(t.size for t in trains))
    ax_raster.set_title(f"{len(trains)} repeats, {n_spikes:,} spikes in the {RESPONSE_WINDOW_MS}-ms window",
                        fontsize="small", loc="right")

    # PSTH: mean over repeats of the (smoothed) response grid, spikes/s.
    t_ms, rate = _rate(grid[0, 0], dt_ms=dt_ms, smooth=smooth, window_ms=window_ms)
    ax_psth.plot(t_ms, rate, color="tab:blue", linewidth=1.0)
    ax_psth.fill_between(t_ms, 0, np.nan_to_num(rate), color="tab:blue", alpha=0.25, linewidth=0)
    ax_psth.set_ylim(bottom=0)
    ax_psth.set_ylabel("rate (spikes/s)")
    ax_psth.set_xlabel("time after sound onset (ms)")
    label = f"{dt_ms:g}-ms bins" + (f", {window_ms:g}-ms Hanning smoothing" if smooth else "")
    ax_psth.set_title(f"PSTH ({label})", fontsize="small", loc="right")
    ax_psth.set_xlim(0, window)

    fig.suptitle(f"unit {position}: {unit_name}\n"
                 f"sound {index}: {stimulus_name} ({category})")
    return fig


def plot_response(file_path: str | os.PathLike, unit: int | str, stimulus: int | str,
                  output_path: str | os.PathLike, *, dt_ms: float = DEFAULT_DT_MS, smooth: bool = True,
                  window_ms: float = DEFAULT_WINDOW_MS, dpi: int = 100) -> Path:
    """Open an ns1nwb file (or folder, or URL), draw :func:`response_figure` and save it.

    Parameters
    ----------
    file_path : str or os.PathLike
        What :func:`ns1nwb.open` takes.
    unit : int or str
        Unit index or ``unit_name``.
    stimulus : int or str
        Stimulus index or name.
    output_path : str or os.PathLike
        Image file; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).
    dpi : int, default 100

    Returns
    -------
    Path
        ``output_path``.
    """
    from .read import open as open_recording

    _matplotlib()  # fail before opening anything when matplotlib is missing
    out = Path(output_path)
    if not out.parent.is_dir():
        raise OutputError(f"{out}: folder {out.parent} does not exist; create it first")
    _check_image_path(out)
    with open_recording(file_path) as rec:
        fig = response_figure(rec, unit, stimulus, dt_ms=dt_ms, smooth=smooth, window_ms=window_ms)
        _save_figure(fig, out, dpi)
    return out


def _check_image_path(out: Path) -> None:
    """Refuse, before any drawing, an image name without a known suffix (matplotlib would add ``.png`` to
    it) or a path that is not a regular file (a symbolic link, a folder, a device)."""
    from .write import check_replaceable

    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise OutputError(f"{out}: unknown image format {out.suffix or '(no suffix)'!r}; use a .png, .pdf or "
                          ".svg name")
    check_replaceable(out, overwrite=True, suffix=".png, .pdf or .svg")


def _save_figure(fig: Any, out: Path, dpi: int) -> None:
    """Save ``fig`` to a temporary beside ``out``, then rename it (:func:`ns1nwb.write.staged_files`): a full
    disk or a Ctrl-C leaves no truncated image, and the error names ``out``."""
    from .write import staged_files

    try:
        with staged_files([out], overwrite=True) as (temporary,):
            fig.savefig(temporary, dpi=dpi, format=out.suffix.lower().lstrip("."))
    except ValueError as err:  # a format matplotlib cannot write
        raise OutputError(f"{out}: cannot save the figure ({err}); use a .png, .pdf or .svg name") from None
    except OSError as err:
        if isinstance(err, OutputError):
            raise
        raise OutputError(f"{out}: cannot save the figure ({err.strerror or err}); nothing was written") from None
