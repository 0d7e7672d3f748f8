from __future__ import annotations

import json

import pytest

from mrd.errors import OutputError
from mrd.output import atomic_open, write_json


def test_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write('{"half": ')
        raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_complete_write_replaces_the_old_file(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_missing_output_folder_is_a_clear_error(tmp_path):
    with pytest.raises(OutputError, match="output folder does not exist"):
        write_json(tmp_path / "absent" / "x.json", {})
