"""A patient's MRD kinetics as an inline SVG plot, for the HTML report.

MRD levels span five orders of magnitude (from 40 % at diagnosis down to 0.001 %), so the y axis
is log10 VAF; only then do a 3 log10 fall and a 1 log10 rise look like what they mean. A sample
where nothing was detected has no level to plot, and leaving it out would hide the very result
that matters most (MRD negativity); it is drawn at its LoD with a downward triangle, read
"below this", and the lines to it are dotted, because the true level lies anywhere beneath.

The plot is built on a :class:`~matplotlib.figure.Figure` of its own, never through pyplot, so
no global figure state is shared. Matplotlib reads a few settings (the hash salt that names SVG
elements, the fonts) from its global ``rcParams`` when saving; those are set inside a lock for
the duration of one plot, so concurrent reports cannot mix them. The SVG keeps its text as
``<text>`` elements (no embedded glyphs, no web fonts) and carries no date, so the same patient
always gives the same bytes.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import itertools
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["format_vaf", "kinetics_svg"]

_DETECTED = frozenset({"POSITIVE", "POSITIVE_BELOW_LOQ"})

# Short state names for the plot; the table beside it spells them out.
_STATE_LABELS = {
    "DIAGNOSIS": "Dx",
    "CR_MRD_NEGATIVE": "MRD neg",
    "MRD_LOW_LEVEL": "low level",
    "MRD_POSITIVE": "MRD pos",
    "MOLECULAR_PROGRESSION": "progression",
    "MOLECULAR_RELAPSE": "relapse",
    "NOT_EVALUABLE": "n.e.",
}

_STATE_COLOURS = {
    "DIAGNOSIS": "#555555",
    "CR_MRD_NEGATIVE": "#1a7f37",
    "MRD_LOW_LEVEL": "#9a6700",
    "MRD_POSITIVE": "#cf222e",
    "MOLECULAR_PROGRESSION": "#a40e26",
    "MOLECULAR_RELAPSE": "#a40e26",
    "NOT_EVALUABLE": "#6e7781",
}

# Colour-blind-safe (Okabe-Ito) colours for the markers; the pooled level is black.
_MARKER_COLOURS = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
)

# Everything matplotlib takes from rcParams for this plot, fixed so that a user's matplotlibrc
# cannot change the report. "svg.fonttype: none" writes text as text: smaller, selectable, and
# without glyph definitions whose ids would repeat in every plot of one HTML page.
_RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9.0,
    "svg.fonttype": "none",
    "svg.image_inline": True,
    "axes.unicode_minus": False,
    # A fixed salt names clip paths and marker shapes the same in every run (matplotlib
    # otherwise draws a random one).
    "svg.hashsalt": "mrd-kinetics",
}

_RC_LOCK = threading.Lock()

_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_ID_ATTRIBUTE = re.compile(r' id="([^"]*)"')
_REFERENCE = re.compile(r'(?:url\(#|href="#)([^)"]+)')
_REFERENCE_SITE = re.compile(r'(url\(#|href="#)([^)"]+)')
_SAFE_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class _Point:
    """One level of one series at one sample."""

    x: Any  # a date, or the sample's position when some sample has no date
    y: float
    detected: bool


def kinetics_svg(
    patient: Mapping[str, Any], positive_vaf: float | None = None, *, id_prefix: str | None = None
) -> str:
    """Plot one patient's MRD course and return it as an inline ``<svg>`` element.

    One line per marker and a bold one for the pooled level; not-detected samples sit at their
    LoD as open downward triangles, joined by dotted lines, with the pooled LoD as a dotted grey
    line. The positive threshold, when known, is a dashed horizontal line, and each pooled point
    is labelled with the state the rules gave the sample.

    Args:
        patient: One patient of an ``mrd-monitor`` result (keys ``patient``, ``timeline``; the
            optional ``rules`` mapping supplies ``positive_vaf`` when the argument is None).
        positive_vaf: The VAF at and above which a detection is "MRD positive"; None to take it
            from ``patient["rules"]`` or to draw no threshold.
        id_prefix: Prefix for the element ids the SVG defines (clip paths, marker shapes), so
            that several plots in one page never share an id; letters, digits, ``-`` and ``_``
            only. None derives one from the patient name.

    Returns:
        The SVG markup, starting at ``<svg``, ready to be placed in an HTML page.

    Raises:
        ImportError: When matplotlib is not installed.
        ValueError: When ``id_prefix`` holds characters an id cannot.
    """
    import matplotlib.style
    from matplotlib.figure import Figure

    name = str(patient.get("patient") or "patient")
    if id_prefix is None:
        id_prefix = "k" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:10] + "-"
    if not _SAFE_PREFIX.fullmatch(id_prefix):
        raise ValueError(f"an SVG id prefix takes letters, digits, '-' and '_' only: {id_prefix!r}")
    entries = [e for e in _sequence(patient.get("timeline")) if isinstance(e, Mapping)]
    if positive_vaf is None:
        positive_vaf = _positive(_mapping(patient.get("rules")).get("positive_vaf"))
    xs, dated = _x_positions(entries)

    with _RC_LOCK, matplotlib.style.context(["default", _RC]):
        figure = Figure(figsize=(8.0, 4.2), layout="constrained")
        axes = figure.add_subplot()
        handles = _draw(axes, entries, xs, positive_vaf)
        _decorate(axes, figure, name, entries, xs, dated, handles)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "mrd"})
    text = buffer.getvalue()
    # The XML prolog and DOCTYPE are not allowed inside HTML, and the RDF metadata block only
    # repeats what the page says; the plot starts at its <svg> element.
    text = _METADATA.sub("", text[text.index("<svg") :], count=1)
    return _own_ids(text, id_prefix)


def _own_ids(svg: str, prefix: str) -> str:
    """Give the SVG ids of its own: drop the ones nothing refers to, prefix the others.

    Matplotlib names every group (``patch_1``, ``line2d_3``), and those names repeat in every
    plot; in one HTML page ids must be unique, and a reference (``url(#...)``, ``href="#..."``)
    into the wrong plot would clip or draw with another plot's shapes.
    """
    defined = set(_ID_ATTRIBUTE.findall(svg))
    referenced = {ref for ref in _REFERENCE.findall(svg) if ref in defined}

    def rename_id(match: re.Match[str]) -> str:
        ident = match.group(1)
        return f' id="{prefix}{ident}"' if ident in referenced else ""

    def rename_reference(match: re.Match[str]) -> str:
        ident = match.group(2)
        if ident not in referenced:
            return match.group(0)
        return f"{match.group(1)}{prefix}{ident}"

    return _REFERENCE_SITE.sub(rename_reference, _ID_ATTRIBUTE.sub(rename_id, svg))


def format_vaf(value: float) -> str:
    """A VAF as a percentage with two significant digits and no exponent (``0.0031%``).

    Clinicians read MRD levels as percentages; an exponent (``3.1e-03%``) is easily misread by
    a factor of ten, so small values get as many decimals as two significant digits need.
    """
    percent = value * 100.0
    if percent == 0.0 or not math.isfinite(percent):
        return f"{percent:g}%"
    if percent >= 10.0:
        return f"{percent:.0f}%"
    decimals = max(0, 1 - math.floor(math.log10(abs(percent))))
    return f"{percent:.{decimals}f}%"


def _draw(
    axes: Axes, entries: Sequence[Mapping[str, Any]], xs: Sequence[Any], positive: float | None
) -> list[Any]:
    """Draw the series and reference lines; return the legend handles."""
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    for index, (label, points) in enumerate(_marker_series(entries, xs).items()):
        colour = _MARKER_COLOURS[index % len(_MARKER_COLOURS)]
        _series(axes, points, colour, width=1.2, size=5.0, zorder=2)
        handles.append(Line2D([], [], color=colour, marker="o", lw=1.2, ms=5, label=label))

    pooled = _pooled_series(entries, xs)
    _series(axes, pooled, "black", width=2.2, size=7.0, zorder=4)
    handles.append(Line2D([], [], color="black", marker="o", lw=2.2, ms=7, label="pooled level"))
    handles.append(
        Line2D(
            [], [], color="black", marker="v", mfc="white", ls=":", lw=1.2, ms=7,
            label="not detected: at its LoD",
        )
    )  # fmt: skip

    lods = [
        (x, lod)
        for x, entry in zip(xs, entries, strict=True)
        if (lod := _positive(entry.get("lod"))) is not None and lod <= 1.0
    ]
    if lods:
        axes.plot(
            [x for x, _ in lods], [y for _, y in lods], ls=":", lw=1.0, color="#8c959f", zorder=1
        )
        handles.append(Line2D([], [], ls=":", lw=1.0, color="#8c959f", label="pooled LoD"))

    if positive is not None:
        axes.axhline(positive, ls="--", lw=1.0, color="#cf222e", zorder=1)
        handles.append(
            Line2D(
                [], [], ls="--", lw=1.0, color="#cf222e", label=f"positive ≥ {format_vaf(positive)}"
            )
        )

    for x, entry, point in _pooled_with_entries(entries, xs):
        state = str(entry.get("state") or "")
        if not state or point is None:
            continue
        text = _STATE_LABELS.get(state, state.replace("_", " ").lower())
        if entry.get("confirmed") is False:
            text += "?"
        axes.annotate(
            _plain(text),
            (x, point.y),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=7.5,
            color=_STATE_COLOURS.get(state, "#24292f"),
            zorder=5,
        )
    return handles


def _series(axes: Axes, points: Sequence[_Point], colour: str, **style: float) -> None:
    """One series: solid between detections, dotted where an end is only an LoD bound."""
    width, size, zorder = style["width"], style["size"], style["zorder"]
    for left, right in itertools.pairwise(points):
        dotted = not (left.detected and right.detected)
        axes.plot(
            [left.x, right.x],
            [left.y, right.y],
            ls=":" if dotted else "-",
            lw=width,
            color=colour,
            zorder=zorder,
        )
    for detected in (True, False):
        chosen = [p for p in points if p.detected is detected]
        if not chosen:
            continue
        axes.plot(
            [p.x for p in chosen],
            [p.y for p in chosen],
            ls="none",
            marker="o" if detected else "v",
            ms=size,
            color=colour,
            mfc=colour if detected else "white",
            mew=1.2,
            zorder=zorder + 0.5,
        )


def _decorate(
    axes: Axes,
    figure: Any,
    name: str,
    entries: Sequence[Mapping[str, Any]],
    xs: Sequence[Any],
    dated: bool,
    handles: Sequence[Any],
) -> None:
    """Axes, ticks, title and legend."""
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axes.set_title(_plain(f"{name}: MRD kinetics"), loc="left", fontsize=10)
    axes.set_ylabel("VAF (log scale)")
    axes.grid(True, which="major", axis="y", color="#d0d7de", lw=0.6)
    axes.set_axisbelow(True)
    levels = [
        float(y)
        for line in axes.get_lines()
        for y in line.get_ydata()  # type: ignore[union-attr]
        if isinstance(y, (int, float)) and y > 0
    ]
    if not levels:
        axes.text(
            0.5, 0.5, "no measured level to plot", transform=axes.transAxes,
            ha="center", va="center", color="#6e7781",
        )  # fmt: skip
        axes.set_yticks([])
        axes.set_xticks([])
        return
    axes.set_yscale("log")
    # Room below for the triangles and above for the state labels; nothing above 100 %.
    axes.set_ylim(min(levels) / 3.0, min(max(levels) * 6.0, 5.0))
    axes.yaxis.set_major_locator(LogLocator(base=10.0))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_vaf(v)))
    axes.yaxis.set_minor_formatter(NullFormatter())
    if dated:
        # matplotlib.dates has no annotations for these two constructors.
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(formatter)
        if len(set(xs)) == 1:
            only = xs[0]
            axes.set_xlim(only - datetime.timedelta(days=30), only + datetime.timedelta(days=30))
    else:
        axes.set_xticks(
            list(xs),
            [_plain(str(e.get("date") or e.get("sample") or "?")) for e in entries],
            rotation=30,
            ha="right",
        )
        axes.set_xlim(-0.5, len(xs) - 0.5)
    figure.legend(handles=list(handles), loc="outside lower center", ncol=4, fontsize=7.5)


def _x_positions(entries: Sequence[Mapping[str, Any]]) -> tuple[list[Any], bool]:
    """Dates when every sample has one; else positions 0, 1, ... in the timeline's order.

    Mixing dated and undated samples on one axis would place the undated ones arbitrarily, so
    one missing date turns the whole axis into sample order.
    """
    dates = [_date(entry.get("date")) for entry in entries]
    if entries and all(d is not None for d in dates):
        return list(dates), True
    return list(range(len(entries))), False


def _date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _pooled_with_entries(
    entries: Sequence[Mapping[str, Any]], xs: Sequence[Any]
) -> Iterable[tuple[Any, Mapping[str, Any], _Point | None]]:
    for x, entry in zip(xs, entries, strict=True):
        yield x, entry, _point(x, entry.get("call"), entry.get("level"), entry.get("lod"))


def _pooled_series(entries: Sequence[Mapping[str, Any]], xs: Sequence[Any]) -> list[_Point]:
    return [p for _, _, p in _pooled_with_entries(entries, xs) if p is not None]


def _marker_series(
    entries: Sequence[Mapping[str, Any]], xs: Sequence[Any]
) -> dict[str, list[_Point]]:
    """Each marker's points over time, keyed by label in order of first appearance."""
    series: dict[str, list[_Point]] = {}
    for x, entry in zip(xs, entries, strict=True):
        for marker in _sequence(entry.get("markers")):
            if not isinstance(marker, Mapping):
                continue
            label = str(marker.get("label") or marker.get("marker") or "marker")
            point = _point(x, marker.get("call"), marker.get("vaf"), marker.get("lod"))
            points = series.setdefault(_plain(label), [])
            if point is not None:
                points.append(point)
    return series


def _point(x: Any, call: Any, level: Any, lod: Any) -> _Point | None:
    """Where a result goes on a log axis: its level when detected, else its LoD, else nowhere."""
    value = _positive(level)
    detected = call in _DETECTED or (call is None and value is not None)
    if detected and value is not None:
        return _Point(x, value, True)
    bound = _positive(lod)
    if bound is not None and bound <= 1.0:
        return _Point(x, bound, False)
    return None


def _positive(value: Any) -> float | None:
    """A finite number above 0, the only kind a log axis can show."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0.0 else None


def _plain(text: str) -> str:
    """Text that matplotlib draws as given: a ``$`` would otherwise start mathtext."""
    return text.replace("$", r"\$")


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, (list, tuple)) else ()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
