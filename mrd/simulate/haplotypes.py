"""Turn a spec's variants into haplotype sequences on the catalog windows, with their truth.

Every variant becomes one edit of the plus-strand window (replace ``ref[start:end]`` by some
bases) plus a truth record in the form a caller reports: a VCF-style, left-normalised allele.
Reads are cut from the edited sequences and then aligned for real, so nothing here needs to
predict how an aligner will show a variant.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from mrd.catalog import ReferenceWindow, flt3, npm1, reference_window
from mrd.genome import Build
from mrd.simulate.spec import (
    Flt3Itd,
    Haplotype,
    Indel,
    Npm1Insertion,
    SimulationSpec,
    Snv,
    SpecError,
    Variant,
)

DEFAULT_ITD_END_C = 1750
"""c. position of the 5' (genomic last) base of an ITD without a site: codon 584, JMD switch."""

DEFAULT_NPM1_AFTER_C = 863
"""NPM1 insertions sit after c.863 unless told otherwise (types A, B and D do)."""


@dataclass(frozen=True)
class Edit:
    """Replace window bases ``[start, end)`` (0-based) by ``replacement``."""

    start: int
    end: int
    replacement: str

    @property
    def delta(self) -> int:
        """How much longer the haplotype gets."""
        return len(self.replacement) - (self.end - self.start)


@dataclass(frozen=True)
class ResolvedVariant:
    """A variant placed on its window: the edit to make and what the truth says about it."""

    gene: str
    edit: Edit
    truth: dict[str, Any]


@dataclass(frozen=True)
class BuiltHaplotype:
    """One allele of one window, ready to cut fragments from.

    Attributes:
        id: Short label used in read names (``wt``, ``h1`` or the user's name).
        gene: Gene window.
        allele_fraction: Share of this window's alleles (VAF of its variants).
        sequence: Plus-strand bases of the whole window on this allele.
        variants: The variants in cis, with truth records.
        requested_fraction: The fraction as given (a cell fraction if the spec says so).
    """

    id: str
    gene: str
    allele_fraction: float
    sequence: str
    variants: tuple[ResolvedVariant, ...]
    requested_fraction: float | None

    def position(self, reference_offset: int, *, at_end: bool = False) -> int:
        """Map a 0-based window offset to this haplotype's offset.

        Args:
            reference_offset: Offset in the reference window.
            at_end: Treat the offset as an exclusive end, so an insertion exactly there lies
                outside (after) the span instead of inside.
        """
        shift = 0
        for variant in self.variants:
            edit = variant.edit
            before = edit.start < reference_offset if at_end else edit.end <= reference_offset
            if before:
                shift += edit.delta
        return reference_offset + shift


@dataclass(frozen=True)
class GeneTarget:
    """A gene window with its haplotypes and, in amplicon mode, the primer-to-primer span."""

    gene: str
    window: ReferenceWindow
    haplotypes: tuple[BuiltHaplotype, ...]
    amplicon: tuple[int, int] | None


def left_normalise(sequence: str, start: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim and left-shift an allele as VCF normalisation does.

    Args:
        sequence: The reference the allele lies on.
        start: 0-based offset of ``ref`` in ``sequence``.
        ref: Reference bases replaced.
        alt: Bases put in their place.

    Returns:
        ``(offset, ref, alt)`` of the shortest, leftmost equivalent allele; indels keep one
        anchor base before the event, as VCF requires.

    Raises:
        SpecError: When the allele would shift to the very start of the sequence, where no
            anchor base exists.
    """
    while True:
        changed = False
        if ref and alt and ref[-1] == alt[-1]:
            ref, alt = ref[:-1], alt[:-1]
            changed = True
        if not ref or not alt:
            if start == 0:
                raise SpecError("the variant shifts to the edge of the window; move it inwards")
            start -= 1
            ref = sequence[start] + ref
            alt = sequence[start] + alt
            changed = True
        if not changed:
            break
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt = ref[1:], alt[1:]
        start += 1
    return start, ref, alt


def _vcf_truth(window: ReferenceWindow, edit: Edit) -> dict[str, Any]:
    ref = window.sequence[edit.start : edit.end]
    offset, nref, nalt = left_normalise(window.sequence, edit.start, ref, edit.replacement)
    return {
        "chrom": window.chrom,
        "pos": window.start + offset,
        "ref": nref,
        "alt": nalt,
    }


def _window_of(position: int, windows: dict[str, ReferenceWindow], what: str) -> ReferenceWindow:
    for window in windows.values():
        if window.contains(position):
            return window
    spans = ", ".join(f"{w.gene} {w.chrom}:{w.start}-{w.end}" for w in windows.values())
    raise SpecError(f"{what} at {position} lies in no simulated window ({spans})")


def _margin_check(window: ReferenceWindow, first: int, last: int, what: str) -> None:
    # One base of context either side keeps every allele anchorable and alignable.
    if first <= window.start or last >= window.end:
        raise SpecError(
            f"{what} ({first}-{last}) must lie inside the {window.gene} window "
            f"{window.chrom}:{window.start + 1}-{window.end - 1}"
        )


def resolve_variant(
    variant: Variant, build: Build, windows: dict[str, ReferenceWindow]
) -> ResolvedVariant:
    """Place one variant on its window and describe it as the truth.

    Raises:
        SpecError: When the variant falls outside the windows, its REF disagrees with the
            reference, or its gene is not simulated.
    """
    if isinstance(variant, Flt3Itd):
        return _resolve_itd(variant, build, windows)
    if isinstance(variant, Npm1Insertion):
        return _resolve_npm1(variant, build, windows)
    if isinstance(variant, Snv):
        window = _window_of(variant.position, windows, "SNV")
        _margin_check(window, variant.position, variant.position, "the SNV")
        actual = window.base(variant.position)
        if actual != variant.ref:
            raise SpecError(
                f"SNV {variant.position}:{variant.ref}>{variant.alt}: the reference base there is "
                f"{actual} on {build}"
            )
        offset = variant.position - window.start
        edit = Edit(offset, offset + 1, variant.alt)
        truth = {"type": "SNV", "gene": window.gene, **_vcf_truth(window, edit)}
        return ResolvedVariant(window.gene, edit, truth)
    return _resolve_indel(variant, build, windows)


def _require(gene: str, windows: dict[str, ReferenceWindow]) -> ReferenceWindow:
    if gene not in windows:
        raise SpecError(f"a {gene} variant needs the {gene} window among the simulated genes")
    return windows[gene]


def _resolve_itd(
    itd: Flt3Itd, build: Build, windows: dict[str, ReferenceWindow]
) -> ResolvedVariant:
    window = _require("FLT3", windows)
    annotation = flt3(build)
    end = itd.end if itd.end is not None else annotation.genomic_position(DEFAULT_ITD_END_C)
    first = end - itd.length + 1
    _margin_check(window, first, end, f"the ITD's duplicated segment of {itd.length} bp")
    segment = window.slice(first, end)
    inserted = itd.nontemplated + segment
    offset = end - window.start + 1  # 0-based offset of the base after the segment
    edit = Edit(offset, offset, inserted)
    # FLT3 is on the minus strand: the genomic end of the segment is its 5' (lowest c.) end.
    c_first, c_last = annotation.c_notation(end), annotation.c_notation(first)
    residue = annotation.itd_site_residue(first, end)
    truth: dict[str, Any] = {
        "type": "FLT3-ITD",
        "gene": "FLT3",
        **_vcf_truth(window, edit),
        "length": len(inserted),
        "duplicated_length": itd.length,
        "inserted_sequence": inserted,
        "insert_after": end,
        "duplicated_segment": {"chrom": window.chrom, "start": first, "end": end},
        "nontemplated": itd.nontemplated,
        "in_frame": len(inserted) % 3 == 0,
        "c_segment": f"c.{c_first}_{c_last}",
        "domain": annotation.domain_of(residue) if residue is not None else "intronic",
    }
    return ResolvedVariant("FLT3", edit, truth)


def _resolve_npm1(
    ins: Npm1Insertion, build: Build, windows: dict[str, ReferenceWindow]
) -> ResolvedVariant:
    window = _require("NPM1", windows)
    annotation = npm1(build)
    name: str | None
    if ins.type is not None:
        try:
            known = annotation.type_named(ins.type)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        inserted, after_c, name = known.inserted, known.after_c, known.name
        if ins.after_c is not None and ins.after_c != after_c:
            raise SpecError(f"NPM1 type {name} lies after c.{after_c}, not c.{ins.after_c}")
    else:
        assert ins.inserted is not None
        inserted = ins.inserted
        after_c = ins.after_c if ins.after_c is not None else DEFAULT_NPM1_AFTER_C
        name = next(
            (
                t.name
                for t in annotation.known_types
                if t.inserted == inserted and t.after_c == after_c
            ),
            None,
        )
    after = annotation.genomic_position(after_c)
    _margin_check(window, after, after + 1, "the NPM1 insertion")
    offset = after - window.start + 1
    edit = Edit(offset, offset, inserted)
    first, last = annotation.coding_region
    truth: dict[str, Any] = {
        "type": "NPM1",
        "gene": "NPM1",
        **_vcf_truth(window, edit),
        "npm1_type": name,
        "inserted_sequence": inserted,
        "insert_after": after,
        "hgvs_c": f"c.{after_c}_{after_c + 1}ins{inserted}",
        "frameshift": len(inserted) % 3 != 0,
        "in_mutable_region": first <= after <= last,
    }
    return ResolvedVariant("NPM1", edit, truth)


def _resolve_indel(
    indel: Indel, build: Build, windows: dict[str, ReferenceWindow]
) -> ResolvedVariant:
    last_ref = indel.position + len(indel.ref) - 1
    window = _window_of(indel.position, windows, "indel")
    _margin_check(window, indel.position, last_ref, "the indel")
    actual = window.slice(indel.position, last_ref)
    if actual != indel.ref:
        raise SpecError(
            f"indel {indel.position}:{indel.ref}>{indel.alt}: the reference there is {actual} "
            f"on {build}"
        )
    offset = indel.position - window.start
    edit = Edit(offset, offset + len(indel.ref), indel.alt)
    vcf = _vcf_truth(window, edit)
    if len(vcf["ref"]) == 1 and len(vcf["alt"]) > 1:
        kind = "insertion"
    elif len(vcf["alt"]) == 1 and len(vcf["ref"]) > 1:
        kind = "deletion"
    elif len(vcf["ref"]) == len(vcf["alt"]):
        kind = "SNV" if len(vcf["ref"]) == 1 else "MNV"
    else:
        kind = "delins"
    truth = {"type": kind, "gene": window.gene, **vcf, "length": len(indel.alt) - len(indel.ref)}
    return ResolvedVariant(window.gene, edit, truth)


def apply_edits(sequence: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits to a sequence (right to left, so offsets stay valid)."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for left, right in itertools.pairwise(ordered):
        if right.start < left.end or (right.start == left.start and right.end == left.end):
            raise SpecError("variants in cis overlap; put them on separate haplotypes")
    for edit in reversed(ordered):
        sequence = sequence[: edit.start] + edit.replacement + sequence[edit.end :]
    return sequence


def _default_amplicon(gene: str, build: Build) -> tuple[int, int]:
    """The built-in primer-to-primer span of a gene, 1-based genomic and inclusive.

    FLT3: 286 bp from 31 bp inside exon 15's 5' end to 31 bp into intron 13, so the whole of
    exon 14 (JMD and TKD1 start, where ITDs sit) lies inside and 2 x 150 bp reads overlap.
    NPM1: c.781-c.940 (160 bp) around the mutable region c.847-885, away from the poly-T tract.
    """
    if gene == "FLT3":
        exons = {e.number: e for e in flt3(build).exons}
        return exons[15].g_end - 31, exons[14].g_end + 31
    annotation = npm1(build)
    return annotation.genomic_position(781), annotation.genomic_position(940)


def default_amplicons(build: Build) -> dict[str, tuple[int, int]]:
    """The built-in amplicon of every gene window on ``build``."""
    return {"FLT3": _default_amplicon("FLT3", build), "NPM1": _default_amplicon("NPM1", build)}


def build_targets(spec: SimulationSpec) -> list[GeneTarget]:
    """Build every window's haplotypes with allele fractions that sum to one.

    Raises:
        SpecError: When variants fall outside their windows, clash, or the fractions of a
            window's mutant haplotypes exceed one.
    """
    windows = {gene: reference_window(gene, spec.build) for gene in spec.genes}
    per_gene: dict[str, list[tuple[Haplotype, list[ResolvedVariant]]]] = {g: [] for g in windows}
    for haplotype in spec.haplotypes:
        resolved = [resolve_variant(v, spec.build, windows) for v in haplotype.variants]
        genes = {r.gene for r in resolved}
        if len(genes) > 1:
            raise SpecError(
                f"haplotype {haplotype.name or ''} mixes variants of {' and '.join(sorted(genes))}"
                "; give each gene window its own haplotype"
            )
        per_gene[resolved[0].gene].append((haplotype, resolved))
    factor = 0.5 if spec.fraction_kind == "cell" else 1.0
    targets = []
    counter = 0
    for gene, window in windows.items():
        built: list[BuiltHaplotype] = []
        used_names = {"wt"}
        total = 0.0
        for haplotype, resolved in per_gene[gene]:
            counter += 1
            name = haplotype.name or f"h{counter}"
            if name in used_names:
                raise SpecError(f"haplotype name {name!r} is used twice")
            used_names.add(name)
            sequence = apply_edits(window.sequence, [r.edit for r in resolved])
            fraction = haplotype.fraction * factor
            total += fraction
            built.append(
                BuiltHaplotype(name, gene, fraction, sequence, tuple(resolved), haplotype.fraction)
            )
        if total > 1.0 + 1e-9:
            kind = "cell fractions / 2" if factor == 0.5 else "allele fractions"
            raise SpecError(f"the {gene} haplotypes' {kind} add up to {total:.4g}, more than 1")
        wild = BuiltHaplotype("wt", gene, max(0.0, 1.0 - total), window.sequence, (), None)
        amplicon = None
        if spec.mode == "amplicon":
            first, last = spec.amplicons.get(gene) or _default_amplicon(gene, spec.build)
            if not (window.start <= first and last <= window.end):
                raise SpecError(
                    f"{gene} amplicon {first}-{last} must lie inside the window "
                    f"{window.chrom}:{window.start}-{window.end}"
                )
            amplicon = (first, last)
        targets.append(GeneTarget(gene, window, (wild, *built), amplicon))
    return targets
