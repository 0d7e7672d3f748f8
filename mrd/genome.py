"""Genome builds and chromosome naming, told apart by @SQ lengths.

A BAM header does not name its build reliably (``AS`` is optional and free text), but the
chromosome lengths differ between GRCh37 and GRCh38. We read the lengths of chromosomes 13 and 5
(where FLT3 and NPM1 live) and accept the header only when they agree with one build. Naming
(``chr13`` or ``13``) is detected separately because hg19 uses GRCh37 lengths with ``chr`` names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from mrd.errors import GenomeBuildError


class Build(str, enum.Enum):
    """The two human assemblies that clinical pipelines align to."""

    GRCH37 = "GRCh37"
    GRCH38 = "GRCh38"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str) -> Build:
        """Accept the names labs actually type (hg19, b37, hg38...) for a build."""
        key = text.strip().lower()
        if key in _BUILD_ALIASES:
            return _BUILD_ALIASES[key]
        known = ", ".join(sorted(_BUILD_ALIASES))
        raise GenomeBuildError(f"unknown genome build {text!r}; use one of: {known}")


_BUILD_ALIASES: dict[str, Build] = {
    "grch37": Build.GRCH37,
    "hg19": Build.GRCH37,
    "b37": Build.GRCH37,
    "hs37d5": Build.GRCH37,
    "grch38": Build.GRCH38,
    "hg38": Build.GRCH38,
}

# Primary-assembly chromosome lengths (GRC releases), keyed without any "chr" prefix. Lengths
# of the mitochondrion differ between b37 (rCRS) and hg19 (chrM of the Yoruba sequence), so it is
# listed but never used for detection.
CHROMOSOME_LENGTHS: dict[Build, dict[str, int]] = {
    Build.GRCH37: {
        "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260,
        "6": 171115067, "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747,
        "11": 135006516, "12": 133851895, "13": 115169878, "14": 107349540, "15": 102531392,
        "16": 90354753, "17": 81195210, "18": 78077248, "19": 59128983, "20": 63025520,
        "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566, "MT": 16569,
    },
    Build.GRCH38: {
        "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259,
        "6": 170805979, "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422,
        "11": 135086622, "12": 133275309, "13": 114364328, "14": 107043718, "15": 101991189,
        "16": 90338345, "17": 83257441, "18": 80373285, "19": 58617616, "20": 64444167,
        "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415, "MT": 16569,
    },
}  # fmt: skip

# hg19 kept the older chrM (NC_001807), two bases longer than the rCRS of b37 and GRCh38.
_HG19_CHRM_LENGTH = 16571

# Chromosomes whose length decides the build: the ones holding our markers.
_DETECTION_CHROMOSOMES = ("13", "5")


def bare_chrom(name: str) -> str:
    """Strip a leading ``chr`` so ``chr13`` and ``13`` compare equal; ``chrM`` becomes ``MT``."""
    bare = name[3:] if name.lower().startswith("chr") else name
    return "MT" if bare in ("M", "m") else bare


@dataclass(frozen=True)
class GenomeInfo:
    """What a header says about the reference: build, and whether names carry ``chr``.

    Attributes:
        build: The assembly the lengths matched.
        chr_prefix: True for ``chr13``-style names (GRCh38, hg19), False for ``13`` (b37).
    """

    build: Build
    chr_prefix: bool

    def chrom(self, bare_name: str) -> str:
        """Name a chromosome the way this header does, so fetches find it."""
        bare = bare_chrom(bare_name)
        if not self.chr_prefix:
            return bare
        return "chrM" if bare == "MT" else f"chr{bare}"

    @property
    def label(self) -> str:
        """Human label such as ``GRCh38 (chr13)`` or ``GRCh37 (13)`` for messages and reports."""
        return f"{self.build} ({self.chrom('13')})"


def detect_genome(lengths: Mapping[str, int], build: Build | str | None = None) -> GenomeInfo:
    """Tell build and naming from a header's reference lengths.

    Args:
        lengths: Reference name to length, as in the @SQ lines.
        build: The build the user says it is; it must agree with the lengths when they can tell.

    Returns:
        The detected build and naming.

    Raises:
        GenomeBuildError: When chromosomes 13 and 5 are both absent, their lengths match no
            supported build, they disagree with each other, or they contradict ``build``.
    """
    wanted = Build.parse(build) if isinstance(build, str) else build
    found: dict[str, tuple[str, int]] = {}
    for name, length in lengths.items():
        bare = bare_chrom(name)
        if bare in _DETECTION_CHROMOSOMES and bare not in found:
            found[bare] = (name, int(length))
    if not found:
        raise GenomeBuildError(
            "the header has no chromosome 13 or 5 (@SQ chr13/13, chr5/5); "
            "mrd needs alignments to the whole GRCh37 or GRCh38 genome"
        )
    votes: dict[str, Build] = {}
    for bare, (name, length) in found.items():
        matches = [b for b, table in CHROMOSOME_LENGTHS.items() if table[bare] == length]
        if not matches:
            expected = ", ".join(f"{b} {CHROMOSOME_LENGTHS[b][bare]:,}" for b in Build)
            raise GenomeBuildError(
                f"@SQ {name} has length {length:,}, which matches no supported build "
                f"({expected}); unsupported or unknown genome build"
            )
        votes[name] = matches[0]
    detected = set(votes.values())
    if len(detected) > 1:
        detail = ", ".join(f"{name} says {b}" for name, b in votes.items())
        raise GenomeBuildError(f"the header mixes genome builds ({detail})")
    (header_build,) = detected
    if wanted is not None and wanted != header_build:
        raise GenomeBuildError(
            f"--build {wanted} contradicts the header, whose chromosome lengths are {header_build}"
        )
    any_name = next(iter(found.values()))[0]
    return GenomeInfo(build=header_build, chr_prefix=any_name.lower().startswith("chr"))


def header_lengths(build: Build, chr_prefix: bool) -> list[tuple[str, int]]:
    """The @SQ list a full-genome BAM of this build and naming carries, in karyotype order."""
    info = GenomeInfo(build, chr_prefix)
    lengths = dict(CHROMOSOME_LENGTHS[build])
    if build is Build.GRCH37 and chr_prefix:
        lengths["MT"] = _HG19_CHRM_LENGTH
    return [(info.chrom(bare), length) for bare, length in lengths.items()]
