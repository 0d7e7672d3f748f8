"""The thresholds of MRD monitoring, as named settings a lab can change in one file.

Several MRD rules are consensus defaults rather than settled facts (domain.md §4 marks them
*configurable default*): the 0.1% VAF that makes NGS-MRD "positive", the 1 log10 rise that makes
progression, the second sample that confirms a relapse. Each lives here as one documented field,
so a lab that validated another cut-off changes a rules file, not the code, and every report can
print the rules it was made with (:meth:`MrdRules.as_dict`).

A rules file is TOML or JSON with a flat table of these keys; any key left out keeps its default.
An unknown key is an error, not ignored: a misspelt threshold that silently falls back to the
default is the worst kind of misconfiguration.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mrd.errors import InputFileError, MissingDependencyError

__all__ = ["MrdRules", "load_rules"]


@dataclass(frozen=True)
class MrdRules:
    """Thresholds for reading a series of MRD results; defaults from domain.md §4.

    Attributes:
        positive_vaf: Pooled VAF at or above which a detected sample is "MRD positive"; a
            detection below it is "MRD low level" (ELN: NGS-MRD positive at VAF >= 0.1%).
        progression_log10: Rise, in log10, between two consecutive detected samples that makes
            molecular progression (ELN: >= 1 log10).
        confirm_consecutive: Whether molecular relapse and progression need the next evaluable
            sample to confirm them (ELN: a second consecutive sample); when False they are
            confirmed at once.
        relapse_needs_positive_vaf: Whether conversion from MRD negative counts only a detection
            at or above ``positive_vaf`` (True) or any detection (False, the default: the ELN
            wording is "conversion from MRD negativity to positivity", and a low-level
            detection after a negative is already such a conversion).
        required_sensitivity: The LoD (VAF) a sample with nothing detected must reach to count
            as MRD negative; above it the sample is not evaluable ("negative, insufficient
            sensitivity"). 1e-4 is the NGS-MRD target.
        log_reduction_target: log10 fall from the diagnosis level that marks a deep response
            (Balsat, JCO 2017: >= 4 log10 after induction, relapse 20.5% vs 65.8%).
        microclone_ratio: FLT3-ITD allelic ratio (mutant / wild type) below which an ITD is a
            "microclone" (AR < 0.05, ALFA/FILO BIG-1).
        include_dta: Whether DNMT3A, TET2 and ASXL1 mutations count as MRD markers; they persist
            as clonal haematopoiesis in remission, so not by default.
        include_germline: Whether likely germline variants (VAF ~50% or ~100%) count as MRD
            markers; they never go away, so not by default.
    """

    positive_vaf: float = 1e-3
    progression_log10: float = 1.0
    confirm_consecutive: bool = True
    relapse_needs_positive_vaf: bool = False
    required_sensitivity: float = 1e-4
    log_reduction_target: float = 4.0
    microclone_ratio: float = 0.05
    include_dta: bool = False
    include_germline: bool = False

    def __post_init__(self) -> None:
        problem = _field_problem(self)
        if problem:
            raise ValueError(problem)

    def as_dict(self) -> dict[str, float | bool]:
        """The rules as a flat mapping (the same keys a rules file takes), for reports and JSON."""
        return asdict(self)


_BOOL_FIELDS = frozenset(f.name for f in fields(MrdRules) if f.type == "bool")


def _field_problem(rules: MrdRules) -> str | None:
    """Why a rules object holds an impossible value (types first, then ranges), or None."""
    for f in fields(rules):
        value = getattr(rules, f.name)
        if f.name in _BOOL_FIELDS:
            if not isinstance(value, bool):
                return f"{f.name} must be true or false, not {value!r}"
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{f.name} must be a number, not {value!r}"
        elif not math.isfinite(value) or value <= 0:
            return f"{f.name} must be a finite number above 0, not {value!r}"
    for name in ("positive_vaf", "required_sensitivity"):
        if getattr(rules, name) >= 1:
            return f"{name} is a VAF and must be below 1, not {getattr(rules, name)!r}"
    return None


def _parse_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    try:  # pragma: no cover - Python 3.10 only
        import tomli  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover
        raise MissingDependencyError(
            "reading a TOML rules file on Python 3.10 needs tomli (pip install tomli), "
            "or write the rules as JSON"
        ) from None
    result: dict[str, Any] = tomli.loads(text)  # pragma: no cover
    return result  # pragma: no cover


def load_rules(path: str | os.PathLike[str]) -> MrdRules:
    """Read MRD rules from a TOML or JSON file; keys left out keep their defaults.

    The format is told by the extension (``.toml``, ``.json``), else by the content (JSON starts
    with ``{``).

    Args:
        path: The rules file.

    Returns:
        The rules.

    Raises:
        InputFileError: The file is missing or unreadable, is not valid TOML/JSON, holds an
            unknown key (named, with the nearest known one), or a value of the wrong type or
            range.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(f"rules file not found: {file}") from None
    except IsADirectoryError:
        raise InputFileError(f"rules file is a directory: {file}") from None
    except UnicodeDecodeError:
        raise InputFileError(f"rules file {file} is not UTF-8 text") from None
    except OSError as exc:
        raise InputFileError(f"cannot read rules file {file}: {exc.strerror}") from None

    suffix = file.suffix.lower()
    is_json = suffix == ".json" or (suffix != ".toml" and text.lstrip().startswith("{"))
    try:
        data: Any = json.loads(text) if is_json else _parse_toml(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"rules file {file} is not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise InputFileError(f"rules file {file} is not valid TOML ({first})") from None
    if not isinstance(data, dict):
        raise InputFileError(f"rules file {file} must hold a table of settings (key = value)")

    known = [f.name for f in fields(MrdRules)]
    for key in data:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {near[0]}?)" if near else f" (known: {', '.join(known)})"
            raise InputFileError(f"rules file {file}: unknown key {key!r}{hint}")
    values: dict[str, Any] = {
        key: float(value)
        if key not in _BOOL_FIELDS and isinstance(value, int) and not isinstance(value, bool)
        else value
        for key, value in data.items()
    }
    try:
        return MrdRules(**values)
    except ValueError as exc:
        raise InputFileError(f"rules file {file}: {exc}") from None
