"""The audit corpus (tests/audit_corpus/, see its README) through `sftwise audit --json`.

Valid 2026 records (tool calls in both shapes, system_instruction, file parts) must give no error and
no format or shape finding; every defective record must be reported at its own line with exactly the
SW1xx codes expected.tsv names. The audit runs with --max-listed 1, so the JSON report must hold
every finding whatever the screen shows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sftwise.cli import app

CORPUS = Path(__file__).parent / "audit_corpus"


def _expected() -> dict[str, dict[int, set[str]]]:
    table: dict[str, dict[int, set[str]]] = defaultdict(dict)
    for row in (CORPUS / "expected.tsv").read_text().splitlines():
        if row.startswith("#") or not row.strip():
            continue
        name, line, codes, _note = row.split("\t")
        table[name][int(line)] = set(codes.split())
    return table


def _audit_json(tmp_path: Path, name: str) -> tuple[int, list[dict]]:
    out = tmp_path / f"{name}.json"
    result = CliRunner().invoke(app, ["audit", str(CORPUS / name), "--json", str(out), "--max-listed", "1"], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(out.read_text())["findings"]


def _lines(name: str) -> int:
    return len((CORPUS / name).read_bytes().splitlines())


def test_corpus_is_large_enough() -> None:
    valid = sum(_lines(p.name) for p in CORPUS.glob("valid_*.jsonl"))
    defects = sum(_lines(p.name) for p in CORPUS.glob("defects_*.jsonl"))
    assert valid >= 15 and defects >= 40, (valid, defects)
    expected = _expected()
    for path in CORPUS.glob("defects_*.jsonl"):  # every defective record is annotated, and nothing else
        assert set(expected[path.name]) == set(range(1, _lines(path.name) + 1)), path.name


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("valid_*.jsonl")))
def test_valid_records_are_not_errors(tmp_path: Path, name: str) -> None:
    code, findings = _audit_json(tmp_path, name)
    errors = [f for f in findings if f["severity"] == "error"]
    schema = [f for f in findings if f["code"] < "SW200"]
    assert not errors and not schema, [f"{f['line']}: {f['code']} {f['message']}" for f in errors + schema]
    assert code == 0


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("defects_*.jsonl")))
def test_every_defect_is_located_at_its_line(tmp_path: Path, name: str) -> None:
    code, findings = _audit_json(tmp_path, name)
    assert code == 1
    got: dict[int, set[str]] = defaultdict(set)
    for f in findings:
        if f["code"] < "SW200":
            assert f["line"] is not None and f["file"].endswith(name), f  # every format/shape finding is located
            got[f["line"]].add(f["code"])
    wrong = {line: (codes, got.get(line, set())) for line, codes in _expected()[name].items() if got.get(line, set()) != codes}
    assert not wrong, f"line: (expected, reported) {wrong}"
