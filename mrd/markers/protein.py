"""Name the protein consequence of an insertion in HGVS ``p.`` notation.

Reports about FLT3 internal tandem duplications and NPM1 insertions are read by clinicians who
think in protein terms (``p.(Tyr591_Leu601dup)``, ``p.(Trp288CysfsTer12)``), so the DNA change
found in the reads has to be turned into the protein description the HGVS recommendations give.
Every description is predicted from sequence alone, hence the parentheses.

The work is done on the two translated peptides rather than on the DNA: an insertion that does
not start at a codon boundary splits a codon, and only the amino acids tell whether that split
changed a residue (a ``delins``) or not (a plain ``ins`` or ``dup``). Comparing the longest
common prefix first also puts an insertion as far C-terminal as it can go, which is the HGVS
3' rule, without a separate shifting step.

The caller passes a stretch of coding sequence that starts at a codon boundary; a change that
cannot be named from inside that stretch (it touches either end, or would need residues outside
it to tell an insertion from a duplication) raises :class:`ValueError` instead of guessing.
"""

from __future__ import annotations

from itertools import product

__all__ = ["protein_change", "translate"]

_BASES = "TCAG"
# Standard genetic code (NCBI table 1), one letter per codon with the codons ordered by
# first, second, third base over TCAG.
_STANDARD_CODE = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
_CODON_TABLE: dict[str, str] = {
    "".join(codon): aa for codon, aa in zip(product(_BASES, repeat=3), _STANDARD_CODE, strict=True)
}

_THREE_LETTER: dict[str, str] = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys",
    "Q": "Gln", "E": "Glu", "G": "Gly", "H": "His", "I": "Ile",
    "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe", "P": "Pro",
    "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val",
    "*": "Ter",
}  # fmt: skip

_STOP = "*"
_UNCHANGED = "p.(=)"


def translate(cds: str) -> str:
    """Translate a coding sequence with the standard genetic code; '*' for stop.

    The sequence must be in frame, upper-case ACGT, with a length that is a multiple of 3.
    Translation does not stop at a stop codon: callers comparing a reference with a variant need
    both full peptides to line up the unchanged ends, and decide themselves where a protein ends.

    Args:
        cds: Coding sequence in frame, upper-case A, C, G and T only.

    Returns:
        One-letter amino acids, ``*`` for each stop codon.

    Raises:
        ValueError: If ``cds`` holds another character or its length is not a multiple of 3.
    """
    _check_bases(cds, "cds")
    if len(cds) % 3:
        raise ValueError(f"cds length {len(cds)} is not a multiple of 3")
    return "".join(_CODON_TABLE[cds[i : i + 3]] for i in range(0, len(cds), 3))


def protein_change(ref_cds: str, alt_cds: str, first_residue: int) -> str:
    """Describe alt vs ref in predicted HGVS p. notation, e.g. 'p.(Glu598_Tyr599insAspGlu)'.

    ref_cds and alt_cds are in-frame stretches of coding sequence starting at the first base of
    codon `first_residue`; alt_cds = ref_cds with bases inserted somewhere (length difference may
    or may not be a multiple of 3). Trailing bases that do not fill a codon are ignored.

    A length difference that is a multiple of 3 is an in-frame change, described as ``dup``
    (inserted peptide repeats the residues just before it), ``ins``, ``delins`` (the insertion
    split a codon into two different residues) or as a nonsense change (``p.(Trp288Ter)``) when
    the first changed residue is a stop. Any other difference is a frameshift,
    ``p.(Trp288CysfsTer12)``, counting the new stop from the first changed residue as 1, or
    ``p.(Trp288Cysfs)`` when the new stop lies beyond ``alt_cds``. Identical sequences, and a
    change past the reference stop codon, leave the protein unchanged: ``p.(=)``.

    Args:
        ref_cds: Reference coding sequence, upper-case ACGT, starting at a codon boundary.
        alt_cds: ``ref_cds`` with one run of bases inserted.
        first_residue: Protein position of the first codon of ``ref_cds`` (1 for the start codon).

    Returns:
        The HGVS protein description with three-letter amino-acid codes.

    Raises:
        ValueError: If either sequence holds a character other than A, C, G, T; if ``alt_cds``
            is not ``ref_cds`` with bases inserted; if ``first_residue`` is below 1; if the
            change touches an end of ``ref_cds`` so the 3' rule or a flanking residue would need
            sequence outside it; or if the change alters the reference stop codon (an extension,
            which this module does not describe).
    """
    _check_bases(ref_cds, "ref_cds")
    _check_bases(alt_cds, "alt_cds")
    if first_residue < 1:
        raise ValueError(f"first_residue must be 1 or more, got {first_residue}")
    _check_insertion(ref_cds, alt_cds)

    ref = translate(ref_cds[: len(ref_cds) - len(ref_cds) % 3])
    alt = translate(alt_cds[: len(alt_cds) - len(alt_cds) % 3])
    start = _common_prefix(ref, alt)
    ref_stop = ref.find(_STOP)
    if ref_cds == alt_cds or 0 <= ref_stop < start:
        return _UNCHANGED
    if start == len(ref):
        # Equal peptides are not proof of an unchanged protein here: the insertion (or the first
        # residue its frameshift changes) may simply lie past the last whole codon of ref_cds.
        raise ValueError(
            "the change lies beyond the last whole codon of ref_cds; pass more downstream sequence"
        )
    if (len(alt_cds) - len(ref_cds)) % 3:
        return _frameshift(ref, alt, start, ref_stop, first_residue)
    return _in_frame(ref, alt, start, ref_stop, first_residue)


def _frameshift(ref: str, alt: str, start: int, ref_stop: int, first_residue: int) -> str:
    """Describe a frameshift from its first changed residue, as HGVS asks for the short form."""
    if start == ref_stop:
        raise _extension_error()
    position = first_residue + start
    if alt[start] == _STOP:
        # HGVS: a frameshift whose first changed residue is a stop is a nonsense change.
        return f"p.({_aa(ref[start])}{position}Ter)"
    new_stop = alt.find(_STOP, start)
    length = f"Ter{new_stop - start + 1}" if new_stop >= 0 else ""
    return f"p.({_aa(ref[start])}{position}{_aa(alt[start])}fs{length})"


def _in_frame(ref: str, alt: str, start: int, ref_stop: int, first_residue: int) -> str:
    """Describe an in-frame change as dup, ins, delins or nonsense, after the 3' shift.

    ``start`` is the longest common prefix, so a pure insertion found here already sits as far
    C-terminal as it can: had its first residue equalled the one after it, the prefix would have
    been longer. Checking for a duplication only after that shift is what HGVS prescribes.
    """
    suffix = _common_suffix(ref[start:], alt[start:])
    deleted = ref[start : len(ref) - suffix]
    inserted = alt[start : len(alt) - suffix]
    if 0 <= ref_stop < start + len(deleted):
        raise _extension_error()
    if _STOP in inserted:
        # The protein ends at the first new stop; nothing after it is part of the description.
        inserted = inserted[: inserted.index(_STOP) + 1]
        if inserted == _STOP:
            return f"p.({_aa(ref[start])}{first_residue + start}Ter)"

    if deleted:
        first = first_residue + start
        last = first + len(deleted) - 1
        return f"p.({_span(ref, start, first, last)}delins{_peptide(inserted)})"

    size = len(inserted)
    if _STOP not in inserted:
        if start >= size and ref[start - size : start] == inserted:
            first = first_residue + start - size
            last = first_residue + start - 1
            return f"p.({_span(ref, start - size, first, last)}dup)"
        if start < size and inserted[size - start :] == ref[:start]:
            raise ValueError(
                "cannot tell a duplication from an insertion without residues before ref_cds; "
                "pass more upstream sequence"
            )
    if start == 0:
        raise ValueError(
            "the insertion lies before the first codon of ref_cds; pass more upstream sequence"
        )
    before = f"{_aa(ref[start - 1])}{first_residue + start - 1}"
    after = f"{_aa(ref[start])}{first_residue + start}"
    return f"p.({before}_{after}ins{_peptide(inserted)})"


def _span(ref: str, index: int, first: int, last: int) -> str:
    """Name residues ``first``..``last`` (``ref[index]`` onwards) as ``Xaa1`` or ``Xaa1_Yaa2``."""
    head = f"{_aa(ref[index])}{first}"
    if last == first:
        return head
    return f"{head}_{_aa(ref[index + last - first])}{last}"


def _peptide(residues: str) -> str:
    """Spell a peptide in three-letter codes, as HGVS writes inserted residues."""
    return "".join(_aa(residue) for residue in residues)


def _aa(residue: str) -> str:
    return _THREE_LETTER[residue]


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of ``a`` and ``b``."""
    limit = min(len(a), len(b))
    i = 0
    while i < limit and a[i] == b[i]:
        i += 1
    return i


def _common_suffix(a: str, b: str) -> int:
    """Length of the longest common suffix of ``a`` and ``b``."""
    limit = min(len(a), len(b))
    i = 0
    while i < limit and a[-1 - i] == b[-1 - i]:
        i += 1
    return i


def _check_bases(seq: str, name: str) -> None:
    """Refuse anything but upper-case ACGT, so ambiguity codes never translate silently."""
    for i, base in enumerate(seq):
        if base not in "ACGT":
            raise ValueError(
                f"{name} must hold only upper-case A, C, G, T; found {base!r} at position {i + 1}"
            )


def _check_insertion(ref_cds: str, alt_cds: str) -> None:
    """Refuse pairs that are not an insertion, whose description here would be wrong."""
    prefix = _common_prefix(ref_cds, alt_cds)
    suffix = _common_suffix(ref_cds[prefix:], alt_cds[prefix:])
    if len(alt_cds) < len(ref_cds) or prefix + suffix < len(ref_cds):
        raise ValueError("alt_cds is not ref_cds with bases inserted at one place")


def _extension_error() -> ValueError:
    return ValueError(
        "the change alters the reference stop codon (an extension), which is not described here"
    )
