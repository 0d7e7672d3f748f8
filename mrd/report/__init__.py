"""Writers that turn a call result (the JSON-able dict of ``mrd call``) into TSV and VCF.

They take the plain dict rather than typed objects so that one writer serves every marker kind
(FLT3 now, NPM1 and others later) and so a saved JSON file can be re-rendered without rerunning
the caller. Both write atomically: a reader never sees a half-written file.
"""

from __future__ import annotations

from mrd.report.tsv import TSV_COLUMNS, write_findings_tsv
from mrd.report.vcf import write_findings_vcf

__all__ = ["TSV_COLUMNS", "write_findings_tsv", "write_findings_vcf"]
