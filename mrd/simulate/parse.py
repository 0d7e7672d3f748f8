"""Parse the compact variant notations of ``mrd simulate`` into spec objects.

The notations are short enough to type on a command line and strict enough that a typo is an
error rather than a silently different simulation:

* ``--itd LENGTH[@END]:FRACTION[:NONTEMPLATED]``, e.g. ``60@28034119:0.2`` or ``42:0.25:GA``
* ``--npm1 TYPE:FRACTION`` (``A:0.4``) or ``--npm1 c.AFTER_AFTER+1insBASES:FRACTION``
* ``--snv POS:REF>ALT:FRACTION`` and ``--indel POS:REF>ALT:FRACTION`` (VCF alleles)
* ``--amplicon GENE:FIRST-LAST``
"""

from __future__ import annotations

import math
import re

from mrd.errors import GenomeBuildError
from mrd.genome import Build
from mrd.simulate.spec import GENES, Flt3Itd, Indel, Npm1Insertion, Snv, SpecError

_ITD = re.compile(
    r"^(?P<length>\d+)(?:@(?P<end>[\d,_]+))?:(?P<fraction>[^:]+)(?::(?P<nt>[A-Za-z]*))?$"
)
_NPM1_TYPE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9]*):(?P<fraction>[^:]+)$")
_NPM1_HGVS = re.compile(
    r"^c\.(?P<after>\d+)_(?P<next>\d+)ins(?P<bases>[A-Za-z]+):(?P<fraction>[^:]+)$"
)
_ALLELE = re.compile(
    r"^(?P<pos>[\d,_]+):(?P<ref>[A-Za-z]+)>(?P<alt>[A-Za-z]+):(?P<fraction>[^:]+)$"
)
_AMPLICON = re.compile(r"^(?P<gene>[A-Za-z0-9]+):(?P<first>[\d,_]+)-(?P<last>[\d,_]+)$")

_NAMING = {"chr": True, "plain": False}
_BUILD_NAMING: dict[str, bool] = {"hg19": True, "b37": False, "hs37d5": False, "hg38": True}


def parse_fraction(text: str, what: str = "fraction") -> float:
    """A fraction between 0 and 1 (``0.25``, ``3e-4``) or a percentage (``25%``)."""
    raw = text.strip()
    scale = 1.0
    if raw.endswith("%"):
        raw, scale = raw[:-1], 0.01
    try:
        value = float(raw) * scale
    except ValueError:
        raise SpecError(f"{what} {text!r} is not a number") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise SpecError(f"{what} {text!r} must lie between 0 and 1")
    return value


def _position(text: str) -> int:
    return int(text.replace(",", "").replace("_", ""))


def _fail(option: str, text: str, form: str) -> SpecError:
    return SpecError(f"{option} {text!r}: expected {form}")


def parse_itd(text: str) -> tuple[Flt3Itd, float]:
    """``LENGTH[@END]:FRACTION[:NONTEMPLATED]`` into an ITD and its fraction."""
    match = _ITD.match(text.strip())
    if not match:
        raise _fail("--itd", text, "LENGTH[@END]:FRACTION[:NONTEMPLATED], e.g. 60@28034119:0.2")
    end = match["end"]
    itd = Flt3Itd(
        length=int(match["length"]),
        end=_position(end) if end else None,
        nontemplated=match["nt"] or "",
    )
    return itd, parse_fraction(match["fraction"], "ITD fraction")


def parse_npm1(text: str) -> tuple[Npm1Insertion, float]:
    """``TYPE:FRACTION`` or ``c.863_864insCATG:FRACTION`` into an NPM1 insertion."""
    raw = text.strip()
    hgvs = _NPM1_HGVS.match(raw)
    if hgvs:
        after = int(hgvs["after"])
        if int(hgvs["next"]) != after + 1:
            raise SpecError(f"--npm1 {text!r}: an insertion lies between neighbouring positions")
        insertion = Npm1Insertion(type=None, inserted=hgvs["bases"], after_c=after)
        return insertion, parse_fraction(hgvs["fraction"], "NPM1 fraction")
    named = _NPM1_TYPE.match(raw)
    if not named:
        raise _fail("--npm1", text, "TYPE:FRACTION (A:0.4) or c.863_864insCATG:FRACTION")
    return Npm1Insertion(type=named["name"]), parse_fraction(named["fraction"], "NPM1 fraction")


def _alleles(option: str, text: str) -> tuple[int, str, str, float]:
    match = _ALLELE.match(text.strip())
    if not match:
        raise _fail(option, text, "POS:REF>ALT:FRACTION, e.g. 28034150:G>A:0.01")
    fraction = parse_fraction(match["fraction"], f"{option[2:]} fraction")
    return _position(match["pos"]), match["ref"], match["alt"], fraction


def parse_snv(text: str) -> tuple[Snv, float]:
    """``POS:REF>ALT:FRACTION`` into an SNV."""
    position, ref, alt, fraction = _alleles("--snv", text)
    return Snv(position, ref, alt), fraction


def parse_indel(text: str) -> tuple[Indel, float]:
    """``POS:REF>ALT:FRACTION`` (VCF alleles, e.g. ``171410543:G>GCATG:0.1``) into an indel."""
    position, ref, alt, fraction = _alleles("--indel", text)
    return Indel(position, ref, alt), fraction


def parse_amplicon(text: str) -> tuple[str, tuple[int, int]]:
    """``GENE:FIRST-LAST`` (1-based genomic, inclusive) into a custom amplicon."""
    match = _AMPLICON.match(text.strip())
    if not match:
        raise _fail("--amplicon", text, "GENE:FIRST-LAST, e.g. FLT3:28033960-28034245")
    gene = match["gene"].upper()
    if gene not in GENES:
        raise SpecError(f"--amplicon {text!r}: gene must be one of {', '.join(GENES)}")
    first, last = _position(match["first"]), _position(match["last"])
    if last < first:
        raise SpecError(f"--amplicon {text!r}: the end lies before the start")
    return gene, (first, last)


def parse_build(build: str, naming: str | None = None) -> tuple[Build, bool | None]:
    """A build name and a naming choice into ``(build, chr_prefix)``.

    ``hg19`` means GRCh37 with ``chr`` names and ``b37`` GRCh37 without, unless ``naming``
    (``chr``, ``plain`` or ``auto``) says otherwise; ``None`` lets the spec take the build's
    usual naming.

    Raises:
        SpecError: For an unknown build or naming.
    """
    try:
        parsed = Build.parse(build)
    except GenomeBuildError as exc:
        raise SpecError(str(exc)) from None
    if naming is not None and naming.lower() != "auto":
        if naming.lower() not in _NAMING:
            raise SpecError(f"naming {naming!r} must be chr, plain or auto")
        return parsed, _NAMING[naming.lower()]
    return parsed, _BUILD_NAMING.get(build.strip().lower())
