"""The README's Python example runs as printed, so the first thing a user copies works."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    block = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), str(README), "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "GRCh38 (chr13)"
    assert out[-1] == "1769 JMD"
    assert (tmp_path / "sample.bam.bai").is_file()
