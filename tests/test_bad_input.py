"""Bad input through the real command line: one clear line, no partial output, nothing elsewhere.

Every bad file here is a real one: a simulated BAM cut short, damaged in the middle, left without
its index, sorted by name, of the other genome build, without reads at the targets, or a CRAM
given without its reference. ``mrd call`` must refuse each with one ``mrd: error:`` line, exit 2,
and leave none of its --json/--tsv/--vcf files behind. ``mrd monitor`` keeps going past one bad
sample (the others are still worth reporting), so there the contract is: exit 1, one line naming
the sample and the problem, no files for that sample, and nothing written outside ``--out``. A
problem with the sample sheet or a marker file stops the run before ``--out`` is even created.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pysam
import pytest
from conftest import CliRun, corrupt_copy, run_cli, run_cli_process, write_genome_fasta

from mrd.errors import OutputError
from mrd.genome import Build
from mrd.output import write_text

Tree = dict[str, tuple[int, int]]

SHEET_HEADER = ("patient", "sample", "bam", "date", "timepoint", "tissue")


# --- building bad files ------------------------------------------------------------------------


def _copy(bam: Path, target: Path, *, index: bool = True) -> Path:
    shutil.copy(bam, target)
    if index:
        shutil.copy(f"{bam}.bai", f"{target}.bai")
    return target


def _truncated(bam: Path, target: Path) -> Path:
    """Half a BAM with its intact index: an interrupted copy."""
    target.write_bytes(bam.read_bytes()[: bam.stat().st_size // 2])
    shutil.copy(f"{bam}.bai", f"{target}.bai")
    return target


def _damaged_where_a_window_starts(bam: Path, target: Path) -> Path:
    """A BAM whose block holding the FLT3 window's first record no longer inflates.

    The first read of a window is what tells mrd the window has reads at all, so the damage
    is met there, before the window is read.
    """
    from mrd.catalog import reference_window

    window = reference_window("FLT3", Build.GRCH38)
    with pysam.AlignmentFile(str(bam)) as source:
        while True:
            offset = source.tell()  # virtual: the block's file offset, then 16 bits within it
            read = next(source)
            if read.reference_name == "chr13" and (read.reference_end or 0) >= window.start:
                break
    data = bytearray(bam.read_bytes())
    block = offset >> 16
    for i in range(block + 40, block + 296):  # past the 18-byte block header
        data[i] ^= 0xFF
    target.write_bytes(bytes(data))
    shutil.copy(f"{bam}.bai", f"{target}.bai")
    return target


def _unsorted(bam: Path, target: Path) -> Path:
    pysam.sort("-n", "-o", str(target), str(bam))
    return target


def _no_reads(bam: Path, target: Path) -> Path:
    """The sample's own header (right build, right names) with no records: an empty panel."""
    with (
        pysam.AlignmentFile(str(bam)) as source,
        pysam.AlignmentFile(str(target), "wb", template=source),
    ):
        pass
    pysam.index(str(target))
    return target


def _cram(bam: Path, target: Path, fasta: Path) -> Path:
    pysam.samtools.view("-C", "-T", str(fasta), "-o", str(target), str(bam), catch_stdout=False)
    pysam.index(str(target))
    return target


def _cram_past_the_window(bam: Path, target: Path, fasta: Path) -> Path:
    """A CRAM that needs its reference (none embedded), with a few reads past the FLT3 window.

    Reads past the window make the slices' reference span, which htslib checksums when it
    decodes, reach beyond what mrd's own reference check compares.
    """
    from mrd.catalog import reference_window

    window = reference_window("FLT3", Build.GRCH38)
    plus = target.with_suffix(".plus.bam")
    with pysam.AlignmentFile(str(bam)) as source:
        records = list(source.fetch(until_eof=True))
        layout = source.header.to_dict()
    # Without an embedded reference, htslib wants a checksum for every @SQ; the test FASTA
    # holds chromosomes 13 and 5 only, so the others (which no read uses) get a dummy one.
    with pysam.FastaFile(str(fasta)) as genome:
        held = set(genome.references)
    for sq in layout["SQ"]:
        if sq["SN"] not in held:
            sq["M5"] = "0" * 32
    header = pysam.AlignmentHeader.from_dict(layout)
    records = [pysam.AlignedSegment.from_dict(r.to_dict(), header) for r in records]
    for i in range(5):
        read = pysam.AlignedSegment(header)
        read.query_name = f"past{i}"
        read.reference_id = header.get_tid("chr13")
        read.reference_start = window.end - 100 + 10 * i  # 0-based: ends past the window
        read.mapping_quality = 60
        read.cigarstring = "150M"
        read.query_sequence = "ACGT" * 37 + "AC"
        read.query_qualities = pysam.qualitystring_to_array("I" * 150)
        records.append(read)
    records.sort(key=lambda r: (r.reference_id < 0, r.reference_id, r.reference_start))
    with pysam.AlignmentFile(str(plus), "wb", header=header) as out:
        for read in records:
            out.write(read)
    pysam.index(str(plus))
    options = ("--output-fmt-option", "embed_ref=0")
    pysam.samtools.view("-C", *options, "-T", str(fasta), "-o", str(target), str(plus),
                        catch_stdout=False)  # fmt: skip
    pysam.index(str(target))
    return target


def _not_bam(bam: Path, target: Path) -> Path:
    target.write_text("sample\tvaf\nP1\t0.3\n")
    return target


Maker = Callable[[Path, Path], Path]

# kind -> (file name, how to make it from a good BAM, words the one-line error must contain)
BAD_FILES: dict[str, tuple[str, Maker | None, str]] = {
    "truncated": ("cut.bam", _truncated, "truncated or corrupt"),
    "corrupt": ("rot.bam", corrupt_copy, "corrupt or truncated while reading"),
    "damaged where a window starts": (
        "start.bam",
        _damaged_where_a_window_starts,
        "corrupt or truncated while reading chr13",
    ),
    "missing index": ("noindex.bam", lambda b, t: _copy(b, t, index=False), "has no index"),
    "unsorted": ("byname.bam", _unsorted, "not coordinate-sorted"),
    "no reads at the targets": ("empty.bam", _no_reads, "no reads in any target window"),
    "not an alignment file": ("notes.bam", _not_bam, "neither BAM nor CRAM"),
    "missing file": ("absent.bam", None, "not found"),
}


def _make_bad(kind: str, good: Path, folder: Path) -> Path:
    name, maker, _ = BAD_FILES[kind]
    target = folder / name
    return maker(good, target) if maker is not None else target


def _tree(folder: Path, *, skip: Path | None = None) -> Tree:
    """Every file under ``folder`` (outside ``skip``) with its size and modification time."""
    tree: Tree = {}
    for path in folder.rglob("*"):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_file():
            stat = path.stat()
            tree[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return tree


def _assert_one_error_line(run: CliRun, *words: str) -> str:
    """Exit 2 and a single ``mrd: error:`` line on stderr that contains ``words``."""
    assert run.code == 2, run.stderr
    assert "Traceback" not in run.stderr
    [line] = run.error_lines
    assert line.startswith("mrd: error: ")
    for word in words:
        assert word in line, (word, line)
    return line


def _assert_usage_error(run: CliRun, *words: str) -> str:
    """Exit 2 and one ``mrd: error:`` line naming the option, the problem and where help is."""
    line = _assert_one_error_line(run, *words)
    assert line.endswith(" --help'"), line
    return line


# --- mrd call ----------------------------------------------------------------------------------


def _call_outputs(out: Path) -> list[str]:
    return [
        "--json",
        str(out / "r.json"),
        "--tsv",
        str(out / "r.tsv"),
        "--vcf",
        str(out / "r.vcf.gz"),
    ]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, so a file written to '.' by mistake would be seen."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_call_refuses_a_bad_alignment_in_one_line_and_writes_nothing(
    kind: str, sim_bams: dict[str, Path], tmp_path: Path, workdir: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    bad = _make_bad(kind, sim_bams["dx38"], data)
    out = tmp_path / "out"
    out.mkdir()
    before = _tree(tmp_path)
    run = run_cli(["call", str(bad), *_call_outputs(out)])
    _assert_one_error_line(run, BAD_FILES[kind][2], bad.name)
    assert run.stdout == ""  # the result is printed only once the call succeeded
    assert list(out.iterdir()) == []  # no result, no staged part file
    assert _tree(tmp_path) == before  # no index built, nothing written next to the input
    assert list(workdir.iterdir()) == []


def test_htslib_own_lines_stay_out_of_a_damaged_bam_error_unless_debugging(
    sim_bams: dict[str, Path], tmp_path: Path
) -> None:
    # htslib writes to the real standard error, which only a real process shows.
    bad = corrupt_copy(sim_bams["dx38"], tmp_path / "rot.bam")
    run = run_cli_process(["call", str(bad), "--json", str(tmp_path / "r.json")])
    assert run.code == 2
    [line] = run.stderr.splitlines()
    assert line.startswith("mrd: error: ") and "corrupt or truncated while reading" in line
    debug = run_cli_process(["-vv", "call", str(bad), "--json", str(tmp_path / "r.json")])
    assert debug.code == 2 and "[E::" in debug.stderr  # the low-level detail, when asked for


def test_call_refuses_a_bam_of_the_other_build(
    sim_bams: dict[str, Path], tmp_path: Path, workdir: Path
) -> None:
    run = run_cli(["call", str(sim_bams["dx38"]), "--build", "GRCh37", *_call_outputs(tmp_path)])
    _assert_one_error_line(run, "--build GRCh37 contradicts the header", "GRCh38")
    assert list(tmp_path.glob("r.*")) == [] and list(workdir.iterdir()) == []


def test_call_refuses_markers_of_the_other_build(sim_bams: dict[str, Path], tmp_path: Path) -> None:
    markers = tmp_path / "dx38.json"
    assert run_cli(["call", str(sim_bams["dx38"]), "--json", str(markers)]).code == 0
    run = run_cli(
        ["call", str(sim_bams["dx37"]), "--markers", str(markers), *_call_outputs(tmp_path)]
    )
    _assert_one_error_line(run, "GRCh37", "GRCh38")


def test_call_refuses_a_vcf_marker_of_the_other_build(
    sim_bams: dict[str, Path], tmp_path: Path
) -> None:
    """A VCF says its build through its contig lengths; a GRCh38 VCF on a GRCh37 BAM is refused."""
    vcf = tmp_path / "dx.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr13,length=114364328>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr13\t28034150\t.\tA\tG\t.\tPASS\t.\n"
    )
    run = run_cli(["call", str(sim_bams["dx37"]), "--markers", str(vcf), *_call_outputs(tmp_path)])
    _assert_one_error_line(run, "GRCh37", "GRCh38", "13:28034150A>G")
    # The same VCF on the BAM of its own build is followed.
    run = run_cli(["call", str(sim_bams["dx38"]), "--markers", str(vcf), *_call_outputs(tmp_path)])
    assert run.code == 0, run.stderr


def test_call_refuses_a_cram_reference_of_other_bases(
    sim_bams: dict[str, Path], grch38_fasta: Path, tmp_path: Path
) -> None:
    """A FASTA whose bases differ in a catalog window would decode the CRAM wrongly."""
    cram = _cram(sim_bams["dx38"], tmp_path / "s.cram", grch38_fasta)
    altered = write_genome_fasta(tmp_path / "altered.fa.gz", Build.GRCH38, True, alter=True)
    run = run_cli(["call", str(cram), "--reference", str(altered), *_call_outputs(tmp_path)])
    _assert_one_error_line(run, "altered.fa.gz", "disagrees with the GRCh38 catalog")


def test_call_names_the_reference_when_a_cram_does_not_decode_with_it(
    sim_bams: dict[str, Path], grch38_fasta: Path, tmp_path: Path
) -> None:
    # Bases that differ just past a window pass the reference check, but htslib's checksum of
    # the slice fails; its own message is kept back, so mrd's line must name the reference.
    cram = _cram_past_the_window(sim_bams["dx38"], tmp_path / "s.cram", grch38_fasta)
    other = write_genome_fasta(tmp_path / "other.fa.gz", Build.GRCH38, True, flank=True)
    run = run_cli_process(["call", str(cram), "--reference", str(other), *_call_outputs(tmp_path)])
    assert run.code == 2, run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("mrd: error: ") and "s.cram could not be decoded" in line
    assert "--reference is not the FASTA it was written with" in line


def test_call_refuses_a_cram_without_its_reference(
    sim_bams: dict[str, Path], grch38_fasta: Path, tmp_path: Path, workdir: Path
) -> None:
    cram = _cram(sim_bams["dx38"], tmp_path / "s.cram", grch38_fasta)
    out = tmp_path / "out"
    out.mkdir()
    run = run_cli(["call", str(cram), *_call_outputs(out)])
    _assert_one_error_line(run, "s.cram is CRAM", "--reference")
    assert list(out.iterdir()) == [] and list(workdir.iterdir()) == []
    # With it the same file is called: the refusal was about the reference, not the file.
    run = run_cli(["call", str(cram), "--reference", str(grch38_fasta), *_call_outputs(out)])
    assert run.code == 0, run.stderr
    assert json.loads((out / "r.json").read_text())["genome_build"] == "GRCh38"


MALFORMED_MARKERS = {
    "bad position": ("m.tsv", "chrom\tpos\tref\talt\n13\tx\tC\tT\n", "row 2, column 'pos'"),
    "no columns": ("m.tsv", "just some text\n", "m.tsv"),
    "empty": ("m.tsv", "", "is empty"),
    "not a VCF": ("m.vcf", "##fileformat=VCF4.2\n#CHROM\tPOS\n13\t1\n", "m.vcf"),
    "broken JSON": ("m.json", '{"schema": "mrd-call", "findings": [', "m.json"),
}


@pytest.mark.parametrize("kind", list(MALFORMED_MARKERS))
def test_call_refuses_a_malformed_marker_file_before_any_work(
    kind: str, sim_bams: dict[str, Path], tmp_path: Path
) -> None:
    name, content, words = MALFORMED_MARKERS[kind]
    markers = tmp_path / name
    markers.write_text(content)
    out = tmp_path / "out"
    out.mkdir()
    run = run_cli(["call", str(sim_bams["dx38"]), "--markers", str(markers), *_call_outputs(out)])
    _assert_one_error_line(run, words)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../evil", "path separator '/'"),
        ("a\\b", "path separator '\\'"),
        ("<img src=x onerror=alert(1)>", "special in HTML"),
        ("R&D", "special in HTML"),
        ("tab\there", "control character U+0009"),
    ],
)
def test_call_refuses_sample_names_the_sample_sheet_would(
    name: str, words: str, sim_bams: dict[str, Path], tmp_path: Path
) -> None:
    run = run_cli(["call", str(sim_bams["dx38"]), "--sample", name, *_call_outputs(tmp_path)])
    _assert_usage_error(run, "--sample", words)
    assert list(tmp_path.glob("r.*")) == []


def test_call_output_paths_that_would_lose_data_are_refused(
    sim_bams: dict[str, Path], tmp_path: Path, workdir: Path
) -> None:
    bam = _copy(sim_bams["dx38"], tmp_path / "s.bam")
    original = bam.read_bytes()
    # An unset shell variable: the file asked for would silently not be written.
    run = run_cli(["call", str(bam), "--json", ""])
    _assert_one_error_line(run, "--json", "empty path")
    # Two options, one file: only the last writer's content would be left.
    run = run_cli(["call", str(bam), "--json", "x", "--tsv", "./x"])
    _assert_one_error_line(run, "--tsv and --json name the same file")
    # An output named like the input would overwrite the alignment.
    run = run_cli(["call", str(bam), "--json", str(bam)])
    _assert_one_error_line(run, "would overwrite the ALIGNMENT input")
    assert bam.read_bytes() == original
    # An output in a folder that does not exist: refused before the work, no folder made.
    run = run_cli(["call", str(bam), "--vcf", str(tmp_path / "nowhere" / "r.vcf")])
    _assert_one_error_line(run, "does not exist")
    assert not (tmp_path / "nowhere").exists()
    assert list(workdir.iterdir()) == []


def test_call_never_replaces_a_device_or_pipe_given_as_output(
    sim_bams: dict[str, Path], tmp_path: Path
) -> None:
    # Results are renamed over their destination. Run as root with --json /dev/null, that used
    # to replace the machine's /dev/null with a regular file; a FIFO and a link to one stand in
    # for the device here, so that a regression cannot do that damage again.
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.json"
    link.symlink_to(fifo)
    for option, target in (("--json", fifo), ("--vcf", link)):
        run = run_cli(["call", str(sim_bams["dx38"]), option, str(target)])
        _assert_one_error_line(run, "not a regular file")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "results.fifo"]
    # The writers themselves refuse too, for callers that do not go through the command line.
    with pytest.raises(OutputError, match="not a regular file"):
        write_text(link, "x")
    assert link.is_symlink() and stat.S_ISFIFO(link.stat().st_mode)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("a\nb.bam", "a\\nb.bam"),  # a newline in a file name, shown as backslash-n
        ("x\x1b[31m.bam", "x\\x1b[31m.bam"),  # a terminal escape, shown inert
    ],
)
def test_error_lines_escape_what_they_quote(name: str, shown: str, tmp_path: Path) -> None:
    run = run_cli(["call", str(tmp_path / name)])
    line = _assert_one_error_line(run, "alignment file not found", shown)
    assert line.isprintable()


def test_paths_the_file_system_cannot_hold_are_usage_errors(
    sim_bams: dict[str, Path], tmp_path: Path
) -> None:
    long = str(tmp_path / ("x" * 300))
    _assert_usage_error(run_cli(["call", long]), "ALIGNMENT", "File name too long")
    run = run_cli(["call", str(sim_bams["dx38"]), "--json", long])
    _assert_usage_error(run, "--json", "File name too long")
    file = tmp_path / "file"
    file.write_text("")
    run = run_cli(["call", str(sim_bams["dx38"]), "--markers", str(file / "m.tsv")])
    _assert_usage_error(run, "--markers", "Not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--depth", "nan"], "not a valid integer"),
        (["--input-ng", "nan"], "not a finite number"),  # NaN passes any click range
        (["--input-ng", "inf"], "not in the range"),
        (["--depth", str(10**20)], "not in the range"),  # used to be a numpy TypeError
        (["--input-ng", "1e17"], "not in the range"),  # used to be an integer overflow
        (["--depth", "100", "--family-size", "nan"], "not a finite number"),
        # Found by test_cli_fuzz: rates near the smallest float overflowed scipy's binomial.
        (["--depth", "5", "--error-rate", "2.2250738585072014e-308"], "too small"),
    ],
)
def test_lod_refuses_numbers_it_cannot_plan_with(
    args: list[str], words: str, tmp_path: Path
) -> None:
    run = run_cli(["lod", *args, "--json", str(tmp_path / "plan.json")])
    _assert_usage_error(run, words)
    assert list(tmp_path.iterdir()) == []


def test_lod_above_one_is_no_sensitivity_not_one_in_zero() -> None:
    run = run_cli(["lod", "--depth", "1"])
    assert run.code == 0, run.stderr
    last = run.stdout.splitlines()[-1]
    assert "above a VAF of 1" in last and "1 in 0" not in last


@pytest.mark.parametrize(
    "option", ["--required-sensitivity", "--min-base-quality", "--microclone-ratio"]
)
def test_call_refuses_nan_where_it_would_pass_any_range(
    option: str, sim_bams: dict[str, Path], tmp_path: Path
) -> None:
    # NaN compares False with every bound, so click's range let it through: a read filter of
    # NaN then filtered nothing, a required sensitivity of NaN ended in a traceback.
    run = run_cli(["call", str(sim_bams["dx38"]), option, "nan", *_call_outputs(tmp_path)])
    _assert_usage_error(run, option, "not a finite number")
    assert list(tmp_path.glob("r.*")) == []


# --- mrd monitor -------------------------------------------------------------------------------


def _sheet(folder: Path, rows: list[list[str]], header: tuple[str, ...] = SHEET_HEADER) -> Path:
    path = folder / "samplesheet.tsv"
    path.write_text("\n".join("\t".join(r) for r in [list(header), *rows]) + "\n", "utf-8")
    return path


def _patient(dx: str, fu: str, *extra: str) -> list[list[str]]:
    return [
        ["P1", "P1-DX", dx, "2025-01-14", "diagnosis", "BM", *extra],
        ["P1", "P1-FU", fu, "2025-06-24", "follow-up", "BM", *([""] * len(extra))],
    ]


@pytest.fixture
def run_folder(sim_bams: dict[str, Path], tmp_path: Path, workdir: Path) -> Path:
    """A run folder holding a good diagnosis BAM, as a lab would lay one out."""
    data = tmp_path / "run"
    data.mkdir()
    _copy(sim_bams["dx38"], data / "dx.bam")
    return data


def _assert_only_the_bad_sample_failed(run: CliRun, out: Path, *words: str) -> None:
    """The run went on: exit 1, one line for the failed sample, its files absent, DX reported."""
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    [line] = [x for x in run.error_lines if x.startswith("mrd: sample")]
    assert line.startswith("mrd: sample P1-FU failed: ")
    for word in words:
        assert word in line, (word, line)
    data = json.loads((out / "monitor.json").read_text())
    errors = {s["sample"]: s["error"] for s in data["samples"]}
    assert errors["P1-DX"] is None and errors["P1-FU"] == line.split(" failed: ", 1)[1]
    samples = {p.name for p in (out / "samples").iterdir()}
    assert "P1-DX.done.json" in samples
    assert not [name for name in samples if name.startswith("P1-FU")]
    assert not [p for p in out.rglob("*") if ".part" in p.name]  # no staged file left


# A missing BAM is a sample sheet problem: see SHEET_PROBLEMS.
@pytest.mark.parametrize("kind", [kind for kind in BAD_FILES if kind != "missing file"])
def test_monitor_reports_a_bad_follow_up_in_one_line_and_keeps_its_files_out(
    kind: str, sim_bams: dict[str, Path], run_folder: Path, tmp_path: Path, workdir: Path
) -> None:
    bad = _make_bad(kind, sim_bams["fu38"], run_folder)
    sheet = _sheet(run_folder, _patient("dx.bam", bad.name))
    before = _tree(tmp_path)
    out = tmp_path / "out"
    run = run_cli(["monitor", str(sheet), "--out", str(out)])
    _assert_only_the_bad_sample_failed(run, out, BAD_FILES[kind][2], bad.name)
    assert _tree(tmp_path, skip=out) == before  # nothing written outside --out
    assert list(workdir.iterdir()) == []


def test_monitor_workers_keep_htslib_lines_out_of_a_failed_sample(
    sim_bams: dict[str, Path], run_folder: Path, tmp_path: Path
) -> None:
    # Spawned workers start with htslib's default verbosity: they must set it as the parent did.
    bad = corrupt_copy(sim_bams["fu38"], run_folder / "rot.bam")
    sheet = _sheet(run_folder, _patient("dx.bam", bad.name))
    out = tmp_path / "out"
    run = run_cli_process(["monitor", str(sheet), "--out", str(out), "--workers", "2"])
    assert run.code == 1, run.stderr
    assert "[E::" not in run.stderr and "[W::" not in run.stderr
    assert [x for x in run.stderr.splitlines() if x.startswith("mrd: sample P1-FU failed: ")]


def test_monitor_refuses_a_follow_up_of_the_other_build(
    sim_bams: dict[str, Path], run_folder: Path, tmp_path: Path
) -> None:
    # The GRCh37 sample carries the same clones: tracked at GRCh38 coordinates it would come out
    # not evaluable with exit 0, hiding that the file is of the wrong build.
    _copy(sim_bams["dx37"], run_folder / "fu37.bam")
    sheet = _sheet(run_folder, _patient("dx.bam", "fu37.bam"))
    out = tmp_path / "out"
    run = run_cli(["monitor", str(sheet), "--out", str(out)])
    _assert_only_the_bad_sample_failed(run, out, "fu37.bam is GRCh37", "P1-DX is GRCh38")


def test_monitor_reports_a_cram_without_its_reference(
    sim_bams: dict[str, Path], grch38_fasta: Path, run_folder: Path, tmp_path: Path
) -> None:
    _cram(sim_bams["fu38"], run_folder / "fu.cram", grch38_fasta)
    sheet = _sheet(run_folder, _patient("dx.bam", "fu.cram"))
    out = tmp_path / "out"
    run = run_cli(["monitor", str(sheet), "--out", str(out)])
    _assert_only_the_bad_sample_failed(run, out, "fu.cram is CRAM", "reference")


SHEET_PROBLEMS = {
    "path separator in a sample name": (
        _patient("dx.bam", "fu.bam"),
        (2, 1, "../P1-FU"),
        "path separator '/'",
    ),
    "HTML in a sample name": (
        _patient("dx.bam", "fu.bam"),
        (2, 1, "R&D <FU>"),
        "special in HTML",
    ),
    "path separator in a patient name": (
        _patient("dx.bam", "fu.bam"),
        (1, 0, "P1/x"),
        "path separator '/'",
    ),
    "missing BAM": (
        _patient("dx.bam", "fu.bam"),
        (2, 2, "gone.bam"),
        "BAM not found",
    ),
    "impossible date": (
        _patient("dx.bam", "fu.bam"),
        (2, 3, "2025-02-30"),
        "not a valid date",
    ),
}


@pytest.mark.parametrize("kind", list(SHEET_PROBLEMS))
def test_monitor_refuses_a_malformed_sheet_before_creating_out(
    kind: str, sim_bams: dict[str, Path], run_folder: Path, tmp_path: Path
) -> None:
    rows, (line, column, value), words = SHEET_PROBLEMS[kind]
    _copy(sim_bams["fu38"], run_folder / "fu.bam")
    rows = [list(r) for r in rows]
    rows[line - 1][column] = value
    sheet = _sheet(run_folder, rows)
    before = _tree(tmp_path)
    out = tmp_path / "out"
    run = run_cli(["monitor", str(sheet), "--out", str(out)])
    _assert_one_error_line(run, f"line {line + 1}", words)
    assert not out.exists()
    assert _tree(tmp_path) == before


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("chrom\tpos\tref\talt\n13\t-4\tC\tT\n", "row 2, column 'pos'"),
        ("chrom\tpos\tref\talt\n13\t28034109\tC\tZ\n", "row 2, column 'alt'"),
        # A gene the risk models cannot read used to stop the run after every sample was
        # called, leaving per-sample files and no report.
        ("chrom\tpos\tref\talt\tgene\n13\t28034109\tC\tT\tFLT3_TKD\n", "not a gene symbol"),
    ],
)
def test_monitor_refuses_a_malformed_marker_file_before_creating_out(
    content: str, words: str, sim_bams: dict[str, Path], run_folder: Path, tmp_path: Path
) -> None:
    _copy(sim_bams["fu38"], run_folder / "fu.bam")
    (run_folder / "markers.tsv").write_text(content)
    sheet = _sheet(
        run_folder, _patient("dx.bam", "fu.bam", "markers.tsv"), (*SHEET_HEADER, "markers")
    )
    out = tmp_path / "out"
    run = run_cli(["monitor", str(sheet), "--out", str(out)])
    _assert_one_error_line(run, "markers.tsv", words)
    assert not out.exists()


def test_monitor_option_errors_create_no_output_folder(
    sim_bams: dict[str, Path], run_folder: Path, tmp_path: Path, workdir: Path
) -> None:
    _copy(sim_bams["fu38"], run_folder / "fu.bam")
    sheet = _sheet(run_folder, _patient("dx.bam", "fu.bam"))
    out = tmp_path / "out"
    run = run_cli(
        ["monitor", str(sheet), "--out", str(out), "--workers", "2", "--dask-scheduler", "x"]
    )
    _assert_one_error_line(run, "--workers or --dask-scheduler")
    assert not out.exists()  # used to leave an empty out/samples behind
    run = run_cli(["monitor", str(sheet), "--out", str(out), "--dask-scheduler", "no port"])
    _assert_one_error_line(run, "cannot reach the Dask scheduler")
    assert not out.exists()
    # An empty --out (an unset variable) would have written the reports into the working folder.
    run = run_cli(["monitor", str(sheet), "--out", ""])
    _assert_one_error_line(run, "--out", "empty path")
    assert list(workdir.iterdir()) == []
    run = run_cli(["monitor", str(sheet), "--out", str(tmp_path / "no" / "such" / "out")])
    _assert_one_error_line(run, "does not exist")
    assert not (tmp_path / "no").exists()


def test_monitor_output_folder_whose_name_is_not_utf8(
    sim_bams: dict[str, Path], run_folder: Path, tmp_path: Path
) -> None:
    # Found by test_cli_fuzz: the byte 0xFF in a folder name reaches Python as a surrogate, and
    # echoing "reports: ..." on a strict stdout crashed once every file was written.
    _copy(sim_bams["fu38"], run_folder / "fu.bam")
    sheet = _sheet(run_folder, _patient("dx.bam", "fu.bam"))
    out = tmp_path / b"out-\xff".decode("utf-8", "surrogateescape")
    run = run_cli(["monitor", str(sheet), "--out", str(out)])
    assert run.code == 0, run.stderr
    assert (out / "report.html").is_file()
    assert "out-\\udcff/report.html" in run.stdout


def test_a_path_no_file_name_encodes_to_is_one_line(tmp_path: Path) -> None:
    # Found by test_cli_fuzz: a lone surrogate outside surrogateescape's range (a caller's own
    # string, never bytes from a shell) made click's stat of an output path raise a traceback.
    run = run_cli(["call", str(tmp_path / "x.bam"), "--tsv", "\udd00"])
    _assert_usage_error(run, "--tsv", "not a file name the file system can encode")


# --- the HTML report ---------------------------------------------------------------------------


class _Markup(html.parser.HTMLParser):
    """Collects the tags and the text of a page, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_shows_user_strings_as_text_never_as_markup(
    sim_bams: dict[str, Path], run_folder: Path, tmp_path: Path, workdir: Path
) -> None:
    # Names cannot hold markup (the sheet refuses it), but a folder, a marker name, a cell the
    # risk rules cannot read and an unknown column header all reach the page.
    lab = run_folder / "R&D <lab>"
    lab.mkdir()
    _truncated(sim_bams["fu38"], lab / "fu<1>.bam")  # fails: its path is in the error text
    (run_folder / "markers.tsv").write_text(
        "chrom\tpos\tref\talt\tname\n"
        "13\t28034109\tC\tCCCATTTGAGATCATATTCATATTCTCTGAAATCAACGTAGAAGTACTCATTATCTGAGGA\t"
        "<script>alert(1)</script>\n"
    )
    header = (*SHEET_HEADER, "markers", "cytogenetics", "<img src=x onerror=alert(2)>")
    rows = _patient("dx.bam", "R&D <lab>/fu<1>.bam", "markers.tsv", "<i>46,XX</i>", "1")
    sheet = _sheet(run_folder, rows, header)
    before = _tree(tmp_path)
    out = tmp_path / "out"
    run = run_cli(["monitor", str(sheet), "--out", str(out)])
    assert run.code == 1, run.stderr  # the truncated follow-up
    raw = (out / "report.html").read_text("utf-8")
    page = _Markup()
    page.feed(raw)
    text = "".join(page.text)
    # The cytogenetics cell comes back in the risk warning, split where the parser split it.
    for shown in ("<script>alert(1)</script>", "R&D <lab>/fu<1>.bam", "<i>46"):
        assert shown in text, shown
    assert not page.tags & {"script", "img", "i", "lab", "1"}
    assert "<script" not in raw and "<img" not in raw and "<lab>" not in raw
    assert _tree(tmp_path, skip=out) == before
    assert list(workdir.iterdir()) == []
