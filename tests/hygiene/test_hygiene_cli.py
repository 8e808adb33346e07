from __future__ import annotations

import hashlib
import json

from typer.testing import CliRunner

from sftwise.cli import app

from hygiene_data import diverse, write_gemini

runner = CliRunner()
PAIRS = [(q, f"answer {i}") for i, q in enumerate(diverse(30, seed=5))]
PAIRS += [(PAIRS[0][0].upper(), PAIRS[0][1]), (PAIRS[1][0].replace("number", "item"), PAIRS[1][1])]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dedup_cli_writes_output_and_report(tmp_path):
    train = write_gemini(tmp_path / "train.jsonl", PAIRS)
    before = _digest(train)
    out, rep = tmp_path / "out.jsonl", tmp_path / "r.json"
    result = runner.invoke(app, ["dedup", str(train), "-o", str(out), "--report", str(rep), "--method", "exact,near,substr"])
    assert result.exit_code == 0, result.output
    assert _digest(train) == before
    report = json.loads(rep.read_text())
    assert report["removed"] == 2 and {r["reason"] for r in report["removed_records"]} == {"exact", "near"}
    assert len(out.read_text().splitlines()) == 30


def test_dedup_cli_errors_are_clean(tmp_path):
    train = write_gemini(tmp_path / "train.jsonl", PAIRS)
    result = runner.invoke(app, ["dedup", str(train), "-o", str(train)])
    assert result.exit_code == 2 and "never overwrites" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["dedup", str(train), "-o", str(tmp_path / "o.jsonl"), "--method", "fuzzy"])
    assert result.exit_code == 2 and "unknown dedup method" in result.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = runner.invoke(app, ["dedup", str(empty), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_split_and_skew_cli(tmp_path):
    train = write_gemini(tmp_path / "train.jsonl", PAIRS)
    result = runner.invoke(app, ["split", str(train), "-o", str(tmp_path / "splits"), "--seed", "3", "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert sum(summary["counts"].values()) == 30  # 32 records, 2 duplicates removed first
    prod = tmp_path / "prod.txt"
    prod.write_text("\n".join(["hey how many apples lol", "pls help w apples thx"] * 10) + "\n")
    result = runner.invoke(app, ["skew", str(train), str(prod), "--json", str(tmp_path / "k.json"), "--permutations", "3"])
    assert result.exit_code == 0, result.output
    assert "Verdict" in result.output and json.loads((tmp_path / "k.json").read_text())["signals"]
    result = runner.invoke(app, ["skew", str(train), str(tmp_path / "missing.txt")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_split_library_errors_name_the_flags(tmp_path):
    """split_dataset raises ParameterError("test" / "stratify"); the CLI shows the flag."""
    train = write_gemini(tmp_path / "train.jsonl", PAIRS)
    result = runner.invoke(app, ["split", str(train), "-o", str(tmp_path / "s"), "--validation", "0.6", "--test", "0.5"])
    assert result.exit_code == 2 and "error: --test: validation + test must leave something to train on" in result.output, result.output
    result = runner.invoke(app, ["split", str(train), "-o", str(tmp_path / "s"), "--validation", "1.5"])
    assert result.exit_code == 2 and "error: --validation: must be a fraction in [0, 1); got 1.5" in result.output, result.output
    result = runner.invoke(app, ["split", str(train), "-o", str(tmp_path / "s"), "--stratify", "label"])
    assert result.exit_code == 2 and "error: --stratify: 'label': no record has that field" in result.output, result.output
