"""The ``mrd monitor`` result as one self-contained HTML page, for people.

The page is a single file with its styles and plots inline and no script: it opens from a
shared drive, an e-mail attachment or a laboratory system that strips JavaScript, prints as it
shows, and loads nothing from the network (a clinical network often has none, and a report must
not change once signed). A Content-Security-Policy in the page forbids scripts and remote
resources outright, as a second guard behind the escaping.

Every string from the input (sample and patient names, paths, rule texts, error messages) is
escaped before it goes into the page: sample names come from a samplesheet someone typed, and a
name such as ``<img src=x onerror=...>`` must show as text, not run. Markup is only ever built
here, from fixed tags; :class:`_Html` marks what is already safe, and everything else is
escaped by :func:`_text`.

Like the TSV and VCF writers, this takes the plain JSON-able dict, so a saved monitor JSON can
be rendered again later without re-running anything.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mrd.output import write_text
from mrd.report.plots import format_vaf, kinetics_svg

__all__ = ["render_html_report", "write_html_report"]

DEFAULT_CAVEAT = (
    "NGS-MRD is not a stand-alone test: interpret it together with morphology, flow cytometry, "
    "qPCR where available, and the clinical course. A negative result holds only down to the "
    "sensitivity reached in that sample."
)
"""Shown when the monitor result carries no caveat of its own; the page always has one."""

_DETECTED = frozenset({"POSITIVE", "POSITIVE_BELOW_LOQ"})

# State -> (readable text, CSS class). Classes come only from here, never from the input.
_STATES = {
    "DIAGNOSIS": ("Diagnosis", "st-dx"),
    "CR_MRD_NEGATIVE": ("CR, MRD negative", "st-neg"),
    "MRD_LOW_LEVEL": ("MRD low level", "st-low"),
    "MRD_POSITIVE": ("MRD positive", "st-pos"),
    "MOLECULAR_PROGRESSION": ("Molecular progression", "st-alarm"),
    "MOLECULAR_RELAPSE": ("Molecular relapse", "st-alarm"),
    "NOT_EVALUABLE": ("Not evaluable", "st-ne"),
}

_CALLS = {
    "POSITIVE": ("Positive", "st-pos"),
    "POSITIVE_BELOW_LOQ": ("Positive, not quantifiable", "st-low"),
    "NEGATIVE": ("Negative", "st-neg"),
    "NOT_EVALUABLE": ("Negative, insufficient sensitivity", "st-ne"),
}

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  color: #1f2328; margin: 0; background: #f6f8fa; line-height: 1.4; }
main { max-width: 1400px; margin: 0 auto; padding: 1.5rem; background: #fff; }
h1 { margin: 0 0 .3rem; font-size: 1.7rem; }
h2 { border-bottom: 2px solid #d0d7de; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { margin-top: 1.6rem; }
h4 { margin: 1.2rem 0 .4rem; }
.meta { color: #59636e; margin: 0; }
.caveat { border: 2px solid #bf8700; background: #fff8c5; padding: .8rem 1rem;
  margin: 1rem 0; font-size: 1.05rem; border-radius: 6px; }
.error { border-left: 4px solid #cf222e; background: #ffebe9; padding: .5rem .8rem; }
.warning { border-left: 4px solid #bf8700; background: #fff8c5; padding: .3rem .8rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left;
  vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td ul, td ol { margin: 0; padding-left: 1.1rem; }
td:first-child { white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
figure { margin: .5rem 0 1rem; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #59636e; font-size: .85rem; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 4px; font-weight: 600; }
ul.warning { padding-left: 1.8rem; }
.st-dx { background: #eaeef2; }
.st-neg { background: #dafbe1; color: #116329; }
.st-low { background: #fff8c5; color: #7d4e00; }
.st-pos { background: #ffebe9; color: #a40e26; }
.st-alarm { background: #a40e26; color: #fff; }
.st-ne { background: #eaeef2; color: #59636e; }
.muted { color: #59636e; }
section.patient { border-top: 4px solid #0969da; margin-top: 2.5rem; }
section.sample { margin-left: 1rem; }
code { font-size: .85rem; }
@media print { body { background: #fff; } main { max-width: none; }
  section.patient { break-before: page; } .scroll { overflow: visible; } }
"""

# No scripts, no remote anything: styles inline, images only as data: URIs (none are used).
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class _Html(str):
    """Markup built here from fixed tags and escaped values: safe to insert as is."""

    __slots__ = ()


def _text(value: Any) -> _Html:
    """Any value as escaped text; markup already built (``_Html``) passes unchanged."""
    if isinstance(value, _Html):
        return value
    if value is None:
        return _Html("")
    return _Html(html.escape(str(value), quote=True))


def _join(parts: Iterable[Any], sep: str = "") -> _Html:
    return _Html(sep.join(_text(part) for part in parts))


def _tag(name: str, content: Any = "", cls: str | None = None, **attrs: str) -> _Html:
    """One element; ``name``, ``cls`` and attribute names are fixed strings of this module."""
    attributes = "".join(f' {key}="{_text(value)}"' for key, value in attrs.items())
    if cls:
        attributes = f' class="{_text(cls)}"' + attributes
    return _Html(f"<{name}{attributes}>{_text(content)}</{name}>")


def write_html_report(monitor: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the report of an ``mrd monitor`` result as one HTML file at ``path``, atomically.

    Args:
        monitor: A monitor result (schema ``mrd-monitor``); missing optional keys are shown as
            empty cells or left out, never guessed.
        path: Destination file; its folder must exist.

    Raises:
        OutputError: When the destination folder does not exist or is not writable.
    """
    write_text(path, render_html_report(monitor))


def render_html_report(monitor: Mapping[str, Any]) -> str:
    """The report page as a string, for callers that send it somewhere other than a file.

    Args:
        monitor: A monitor result (schema ``mrd-monitor``).

    Returns:
        A complete HTML document.
    """
    patients = [p for p in _list(monitor.get("patients")) if isinstance(p, Mapping)]
    samples = [s for s in _list(monitor.get("samples")) if isinstance(s, Mapping)]
    rules = _map(monitor.get("rules"))
    caveat = str(monitor.get("caveat") or DEFAULT_CAVEAT)

    by_patient: dict[str, list[Mapping[str, Any]]] = {}
    for sample in samples:
        by_patient.setdefault(str(sample.get("patient") or ""), []).append(sample)
    known = {str(p.get("patient") or "") for p in patients}

    body = [
        _header(monitor),
        _caveat(caveat),
        _summary(monitor, patients, samples, rules),
    ]
    for index, patient in enumerate(patients, start=1):
        own = by_patient.get(str(patient.get("patient") or ""), [])
        body.append(_patient(patient, index, own, rules))
    orphans = [s for s in samples if str(s.get("patient") or "") not in known]
    if orphans:
        parts = [_tag("h2", "Samples without a patient entry")]
        parts += [_sample(sample, rules) for sample in orphans]
        body.append(_tag("section", _join(parts), id="other-samples"))
    body.append(_tag("footer", _caveat(caveat)))

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>MRD monitoring report</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


# --- Page parts --------------------------------------------------------------------------------


def _header(monitor: Mapping[str, Any]) -> _Html:
    facts = []
    for label, key in (
        ("created", "created"),
        ("mrd", "mrd_version"),
        ("samplesheet", "samplesheet"),
        ("schema", "schema"),
    ):
        value = monitor.get(key)
        if value is None:
            continue
        if key == "schema" and monitor.get("schema_version") is not None:
            value = f"{value} {monitor['schema_version']}"
        facts.append(_join([f"{label}: ", _tag("code" if key == "samplesheet" else "span", value)]))
    return _tag(
        "header",
        _join([_tag("h1", "MRD monitoring report"), _tag("p", _join(facts, " · "), cls="meta")]),
    )


def _caveat(text: str) -> _Html:
    return _tag("aside", _join([_tag("strong", "Caution: "), text]), cls="caveat", role="note")


def _summary(
    monitor: Mapping[str, Any],
    patients: Sequence[Mapping[str, Any]],
    samples: Sequence[Mapping[str, Any]],
    rules: Mapping[str, Any],
) -> _Html:
    failed = [s for s in samples if s.get("error")]
    counts = _table(
        ["Samples", "Analysed", "Failed", "Patients"],
        [[len(samples), len(samples) - len(failed), len(failed), len(patients)]],
        numeric={0, 1, 2, 3},
    )
    parts = [_tag("h2", "Run summary"), counts]
    if failed:
        parts.append(_tag("h3", "Failed samples"))
        parts.append(
            _table(
                ["Sample", "Patient", "Error"],
                [[s.get("sample"), s.get("patient"), s.get("error")] for s in failed],
                cls="error-table",
            )
        )
    if patients:
        rows = []
        for index, patient in enumerate(patients, start=1):
            latest = _latest(patient)
            rows.append(
                [
                    _tag("a", patient.get("patient") or "?", href=f"#patient-{index}"),
                    patient.get("disease"),
                    len(_list(patient.get("timeline"))),
                    _state(latest.get("state"), latest.get("confirmed")) if latest else "",
                    latest.get("date") if latest else "",
                ]
            )
        parts.append(_tag("h3", "Patients"))
        parts.append(
            _table(["Patient", "Disease", "Samples", "Latest state", "Latest date"], rows, {2})
        )
    if rules:
        parts.append(_tag("h3", "Rules in effect"))
        parts.append(_table(["Rule", "Value"], [[k, _plain(v)] for k, v in rules.items()]))
    return _tag("section", _join(parts), id="summary")


def _patient(
    patient: Mapping[str, Any],
    index: int,
    samples: Sequence[Mapping[str, Any]],
    rules: Mapping[str, Any],
) -> _Html:
    name = patient.get("patient") or "?"
    title = _join(
        ["Patient ", name] + ([f" ({patient['disease']})"] if patient.get("disease") else [])
    )
    parts = [_tag("h2", title)]
    if patient.get("diagnosis_sample"):
        parts.append(
            _tag("p", _join(["Diagnosis sample: ", _tag("code", patient["diagnosis_sample"])]))
        )
    warnings = [w for w in _list(patient.get("warnings")) if w]
    if warnings:
        parts.append(_tag("h3", "Warnings"))
        parts.append(_tag("ul", _join(_tag("li", w) for w in warnings), cls="warning"))
    parts.append(_tag("h3", "Kinetics"))
    parts.append(_plot(patient, index, rules))
    parts.append(_tag("h3", "Timeline"))
    parts.append(_timeline(patient))
    parts.append(_tag("h3", "Markers"))
    parts.append(_markers(patient))
    parts.append(_tag("h3", "Risk classification"))
    parts.append(_risk(patient))
    parts.append(_tag("h3", "MRD flags"))
    parts.append(_flags(patient))
    if samples:
        parts.append(_tag("h3", "Samples"))
        parts += [_sample(sample, rules) for sample in samples]
    return _tag("section", _join(parts), cls="patient", id=f"patient-{index}")


def _plot(patient: Mapping[str, Any], index: int, rules: Mapping[str, Any]) -> _Html:
    try:
        # The patient's position, not its name, keeps the plot's ids unique in the page.
        svg = kinetics_svg(patient, _number(rules.get("positive_vaf")), id_prefix=f"plot{index}-")
    except ImportError:
        return _tag("p", "Plot not drawn: matplotlib is not installed.", cls="warning")
    caption = (
        "Pooled level (black) and each marker over time, log10 VAF. Open downward triangles: "
        "nothing detected, drawn at the sample's LoD (the level is below it); dotted lines end at "
        "such a bound. Dashed red: the MRD positive threshold. '?' marks a relapse or "
        "progression awaiting confirmation."
    )
    # The SVG comes from matplotlib, which escapes every text it writes.
    return _tag("figure", _join([_Html(svg), _tag("figcaption", caption)]))


def _timeline(patient: Mapping[str, Any]) -> _Html:
    entries = [e for e in _list(patient.get("timeline")) if isinstance(e, Mapping)]
    if not entries:
        return _tag("p", "No samples in the timeline.", cls="muted")
    rows = []
    for entry in entries:
        rows.append(
            [
                entry.get("date"),
                entry.get("sample"),
                _words(entry.get("timepoint")),
                entry.get("tissue"),
                _call(entry.get("call")),
                _state(entry.get("state"), entry.get("confirmed")),
                _level(entry.get("call"), entry.get("level"), entry.get("lod")),
                _one_in(entry.get("lod"), entry.get("lod_one_in")),
                _log10(
                    entry.get("log10_reduction_from_diagnosis"), entry.get("reduction_is_bound")
                ),
                _log10(entry.get("log10_change_from_previous"), False, signed=True),
                _bullets(entry.get("rules")),
            ]
        )
    return _table(
        [
            "Date",
            "Sample",
            "Timepoint",
            "Tissue",
            "MRD call",
            "State",
            "Level (VAF)",
            "LoD",
            "log10 reduction from diagnosis",
            "log10 change from previous",
            "Rules fired",
        ],
        rows,
        numeric={6, 7, 8, 9},
    )


def _markers(patient: Mapping[str, Any]) -> _Html:
    markers = [m for m in _list(patient.get("markers")) if isinstance(m, Mapping)]
    if not markers:
        return _tag("p", "No markers known for this patient.", cls="muted")
    rows = []
    for marker in markers:
        where = ""
        if marker.get("chrom") is not None and marker.get("position") is not None:
            where = f"{marker['chrom']}:{_count(marker['position'])}"
            if marker.get("ref") is not None and marker.get("alt") is not None:
                where += f" {marker['ref']}>{marker['alt']}"
        pooled = marker.get("pooled")
        if pooled is True:
            use: Any = _tag("span", "pooled", cls="badge st-neg")
        elif pooled is False:
            reason = marker.get("left_out_reason")
            use = _join(
                [_tag("span", "left out", cls="badge st-ne"), f": {reason}" if reason else ""]
            )
        else:
            use = ""
        rows.append(
            [
                marker.get("label"),
                marker.get("gene"),
                marker.get("marker"),
                _tag("code", where) if where else "",
                _vaf(marker.get("diagnosis_vaf")),
                use,
            ]
        )
    return _table(
        ["Label", "Gene", "Kind", "Position", "Diagnosis VAF", "Used for MRD"], rows, numeric={4}
    )


def _risk(patient: Mapping[str, Any]) -> _Html:
    models = [r for r in _list(patient.get("risk")) if isinstance(r, Mapping)]
    if not models:
        return _tag("p", "No risk classification.", cls="muted")
    rows = [
        [
            _tag("strong", model.get("model")),
            model.get("category"),
            _bullets(model.get("rules_fired")),
            _bullets(model.get("missing")),
            _bullets(model.get("caveats")),
        ]
        for model in models
    ]
    return _table(["Model", "Category", "Rules fired", "Missing inputs", "Caveats"], rows)


def _flags(patient: Mapping[str, Any]) -> _Html:
    flags = [f for f in _list(patient.get("mrd_flags")) if isinstance(f, Mapping)]
    if not flags:
        return _tag("p", "No MRD flags.", cls="muted")
    rows = []
    for flag in flags:
        raised = flag.get("raised")
        shown: Any = (
            _tag("span", "raised", cls="badge st-pos")
            if raised is True
            else (_tag("span", "not raised", cls="badge st-ne") if raised is False else "")
        )
        inputs = _map(flag.get("inputs"))
        rows.append(
            [
                flag.get("flag"),
                shown,
                flag.get("text"),
                _bullets(f"{key}: {_plain(value)}" for key, value in inputs.items()),
            ]
        )
    return _table(["Flag", "Status", "Meaning", "Inputs"], rows)


def _sample(sample: Mapping[str, Any], rules: Mapping[str, Any]) -> _Html:
    name = sample.get("sample") or "?"
    parts = [_tag("h4", _join(["Sample ", _tag("code", name)]))]
    if sample.get("error"):
        parts.append(_tag("p", _join([_tag("strong", "Failed: "), sample["error"]]), cls="error"))
    files = _map(sample.get("files"))
    if files:
        parts.append(
            _tag(
                "p",
                _join(
                    (_join([f"{kind}: ", _tag("code", where)]) for kind, where in files.items()),
                    " · ",
                ),
                cls="meta",
            )
        )
    call = _map(sample.get("call"))
    if call:
        parts.append(_sensitivity(call, rules))
        parts.append(_findings(call))
        parts.append(_read_filters(call))
    return _tag("section", _join(parts), cls="sample")


def _sensitivity(call: Mapping[str, Any], rules: Mapping[str, Any]) -> _Html:
    """The pooled call and the sensitivity it reached: what a negative result is worth."""
    pooled = _map(call.get("mrd"))
    if not pooled:
        return _tag("p", "No MRD assessment: no marker to assess in this sample.", cls="muted")
    lod = _number(pooled.get("lod"))
    required = _number(rules.get("required_sensitivity"))
    facts: list[Any] = [
        _join(["Pooled MRD call: ", _call(pooled.get("call"))]),
        _join(["Level: ", _level(pooled.get("call"), pooled.get("vaf"), lod)]),
    ]
    if pooled.get("alt") is not None and pooled.get("depth") is not None:
        unit = f" {pooled['unit']}" if pooled.get("unit") else ""
        facts.append(f"Counts: {_count(pooled['alt'])} / {_count(pooled['depth'])}{unit}")
    reached = "Sensitivity reached: "
    if lod is None or lod <= 0.0:
        facts.append(reached + "unknown (no informative depth)")
    else:
        text = f"{reached}LoD {_one_in(lod, pooled.get('lod_one_in'))} ({format_vaf(lod)})"
        # Only a result with nothing detected is limited by its sensitivity.
        if pooled.get("call") not in _DETECTED and required is not None and required > 0.0:
            verdict = "meets" if lod <= required else "does not meet"
            text += f"; {verdict} the required {_one_in(required, None)}"
        facts.append(text)
    if pooled.get("background_source"):
        facts.append(f"Background: {pooled['background_source']}")
    markers = [m for m in _list(pooled.get("markers")) if m is not None]
    if markers:
        facts.append(_join(["Pooled markers: ", ", ".join(str(m) for m in markers)]))
    left_out = [m for m in _list(pooled.get("left_out")) if isinstance(m, Mapping)]
    if left_out:
        facts.append(
            _join(
                [
                    "Left out: ",
                    "; ".join(f"{m.get('marker')} ({m.get('reason')})" for m in left_out),
                ]
            )
        )
    return _tag("ul", _join(_tag("li", fact) for fact in facts))


def _findings(call: Mapping[str, Any]) -> _Html:
    findings = [f for f in _list(call.get("findings")) if isinstance(f, Mapping)]
    if not findings:
        return _tag("p", "No findings in the analysed windows.", cls="muted")
    rows = []
    for finding in findings:
        assessment = _map(finding.get("mrd"))
        what = [finding.get("marker") or "?"]
        if finding.get("name"):
            what.append(f" {finding['name']}")
        if finding.get("npm1_type"):
            what.append(f" type {finding['npm1_type']}")
        hgvs = [h for h in (finding.get("hgvs_c"), finding.get("hgvs_p")) if h]
        vaf = _vaf(finding.get("vaf"))
        low, high = _number(finding.get("vaf_ci_low")), _number(finding.get("vaf_ci_high"))
        if vaf and low is not None and high is not None:
            vaf += f" ({format_vaf(low)}\N{EN DASH}{format_vaf(high)})"
        counts = ""
        if finding.get("alt_count") is not None and finding.get("depth") is not None:
            counts = f"{_count(finding['alt_count'])} / {_count(finding['depth'])}"
            if finding.get("depth_unit"):
                counts += f" {finding['depth_unit']}"
        rows.append(
            [
                _join(what),
                finding.get("gene"),
                _join((_tag("code", h) for h in hgvs), " "),
                vaf,
                counts,
                _call(assessment.get("call")),
                _one_in(assessment.get("lod"), assessment.get("lod_one_in")),
                _p_value(assessment.get("p_value")),
            ]
        )
    return _table(
        ["Marker", "Gene", "HGVS", "VAF (95% CI)", "Mutant / depth", "MRD call", "LoD", "p"],
        rows,
        numeric={3, 4, 6, 7},
    )


def _read_filters(call: Mapping[str, Any]) -> _Html:
    """Reads kept and dropped per target: a low ``used`` explains a poor sensitivity."""
    targets = [t for t in _list(call.get("targets")) if isinstance(t, Mapping)]
    total = _map(call.get("read_filter"))
    if not targets and not total:
        return _Html("")
    keys: list[str] = []
    for counts in [_map(t.get("read_filter")) for t in targets] + [total]:
        keys += [str(k) for k in counts if str(k) not in keys]
    keys.sort(key=lambda k: (k != "used", k))
    rows: list[list[Any]] = []
    for target in targets:
        counts = _map(target.get("read_filter"))
        analysed = target.get("analysed")
        rows.append(
            [
                target.get("gene"),
                target.get("region"),
                "yes" if analysed is True else ("no" if analysed is False else ""),
                target.get("library"),
            ]
            + [_count(counts.get(key)) for key in keys]
        )
    if total:
        rows.append([_tag("strong", "all targets"), "", "", call.get("library")])
        rows[-1] += [_count(total.get(key)) for key in keys]
    numeric = set(range(4, 4 + len(keys)))
    return _join(
        [
            _tag("p", _tag("strong", "Read filter counts")),
            _table(["Target", "Region", "Analysed", "Library", *keys], rows, numeric),
        ]
    )


# --- Cells -------------------------------------------------------------------------------------


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    numeric: set[int] | None = None,
    cls: str | None = None,
) -> _Html:
    numeric = numeric or set()
    head = _tag("thead", _tag("tr", _join(_tag("th", h, scope="col") for h in headers)))
    body_rows = []
    for row in rows:
        cells = [
            _tag("td", _plain(value), cls="num" if i in numeric else None)
            for i, value in enumerate(row)
        ]
        body_rows.append(_tag("tr", _join(cells)))
    table = _tag("table", _join([head, _tag("tbody", _join(body_rows))]), cls=cls)
    # A wide table scrolls inside its box instead of widening, and cutting off, the page.
    return _tag("div", table, cls="scroll")


def _plain(value: Any) -> Any:
    """A JSON value as a person reads it; markup passes through to be kept, the rest escaped."""
    if isinstance(value, _Html) or value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_plain(v)) for v in value)
    return str(value)


def _words(value: Any) -> Any:
    """``end_of_consolidation`` as "end of consolidation", so a narrow column can wrap it."""
    return value.replace("_", " ") if isinstance(value, str) else value


def _bullets(items: Any) -> _Html:
    values = [item for item in (items if not isinstance(items, str) else [items]) or [] if item]
    if not values:
        return _Html("")
    return _tag("ul", _join(_tag("li", _plain(value)) for value in values))


def _state(state: Any, confirmed: Any) -> _Html:
    if not state:
        return _Html("")
    text, cls = _STATES.get(str(state), (str(state), "st-ne"))
    badge = _tag("span", text, cls=f"badge {cls}")
    if confirmed is True:
        return _join([badge, " confirmed"])
    if confirmed is False:
        return _join([badge, " ", _tag("em", "unconfirmed")])
    return badge


def _call(call: Any) -> _Html:
    if not call:
        return _tag("span", "not assessed", cls="muted")
    text, cls = _CALLS.get(str(call), (str(call), "st-ne"))
    return _tag("span", text, cls=f"badge {cls}")


def _level(call: Any, level: Any, lod: Any) -> str:
    """The level when detected; "< LoD" when not, since a VAF of 0 is not a measurement."""
    value = _number(level)
    if call in _DETECTED or (call is None and value):
        return _vaf(value)
    bound = _number(lod)
    if bound is not None and 0.0 < bound <= 1.0:
        return f"< {format_vaf(bound)}"
    return "not detected" if call else ""


def _vaf(value: Any) -> str:
    number = _number(value)
    return "" if number is None else format_vaf(number)


def _one_in(lod: Any, one_in: Any) -> str:
    """LoD as "1 in N", the way sensitivity is spoken of (1 in 10,000 cells)."""
    count = _number(one_in)
    if count is None:
        bound = _number(lod)
        count = 1.0 / bound if bound is not None and bound > 0.0 else None
    if count is None or count < 1.0:
        return ""
    return f"1 in {round(count):,}"


def _log10(value: Any, bound: Any, signed: bool = False) -> str:
    number = _number(value)
    if number is None:
        return ""
    text = f"{number:+.2f}" if signed else f"{number:.2f}"
    return f"≥ {text}" if bound is True else text


def _p_value(value: Any) -> str:
    number = _number(value)
    if number is None:
        return ""
    return f"{number:.2g}" if number >= 1e-3 else f"{number:.1e}"


def _count(value: Any) -> str:
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    return f"{round(number):,}" if float(number).is_integer() else f"{number:.6g}"


def _number(value: Any) -> float | None:
    """A finite number, or None: JSON from other tools may hold strings, NaN or nothing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _latest(patient: Mapping[str, Any]) -> Mapping[str, Any]:
    entries = [e for e in _list(patient.get("timeline")) if isinstance(e, Mapping)]
    return entries[-1] if entries else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
