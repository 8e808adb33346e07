"""The top-level Python API: every name resolves, the import stays light, and a chain of stages runs
on the bundled sample, each returning the pydantic result its command renders."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

import sftwise
import sftwise.api
from sftwise.demo.sample import sample_paths
from sftwise.errors import ParameterError

CURVES = Path(__file__).resolve().parent / "training" / "fixtures" / "curves"
API = [name for name in sftwise.__all__ if name in sftwise.api.__all__]


def test_the_package_exports_every_api_function():
    assert API == sftwise.api.__all__, "sftwise.__all__ lists the API in sftwise.api's order, all of it"


@pytest.mark.parametrize("name", sorted(sftwise.__all__))
def test_every_exported_name_resolves(name):
    value = getattr(sftwise, name)
    if name in sftwise.api.__all__:
        assert callable(value)
        assert inspect.signature(value) == inspect.signature(getattr(sftwise.api, name))
        assert inspect.getdoc(getattr(sftwise.api, name)), f"sftwise.api.{name} has no docstring"


def test_import_sftwise_pulls_in_neither_torch_nor_pydantic():
    code = "import sys, sftwise; print([m for m in ('torch', 'transformers', 'pydantic', 'numpy') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_a_stage_name_stays_its_module():
    """``sftwise.diagnose`` is both the module and the API call, however it was first imported."""
    code = (
        "import sftwise.diagnose as d, sftwise, types;"
        "from sftwise import recommend as r;"
        "print(isinstance(d, types.ModuleType), d is sftwise.diagnose, hasattr(d, 'diagnose_run'), callable(d),"
        " isinstance(r, types.ModuleType), hasattr(sftwise.train, '__path__'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True"] * 6


def test_chain_audit_dedup_split_recommend_diagnose(tmp_path):
    paths = sample_paths()
    audit = sftwise.audit(paths["train"], validation=paths["validation"], test=paths["test"])
    assert not audit.has_errors and audit.stats["train"].example_count == 480

    read = sftwise.read(paths["train"])
    assert len(read.dataset) == 480 and not read.errors

    lines = paths["train"].read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "doubled.jsonl").write_text("".join(lines + lines[:20]), encoding="utf-8")
    dedup = sftwise.dedup(tmp_path / "doubled.jsonl", tmp_path / "train.jsonl", method=["exact", "near"])
    assert dedup.removed >= 20 and dedup.kept == len(sftwise.read(tmp_path / "train.jsonl").dataset)

    split = sftwise.split(tmp_path / "train.jsonl", output=tmp_path / "splits", validation=0.2, test=0.1, seed=3)
    assert sum(split.counts.values()) <= dedup.kept and (tmp_path / "splits" / "validation.jsonl").exists()
    assert split.counts == sftwise.split(tmp_path / "train.jsonl", validation=0.2, test=0.1, seed=3).counts  # same seed, same split

    rec = sftwise.recommend("gemini-2.5-flash", tmp_path / "splits" / "train.jsonl")
    assert rec.family != "open" and rec.lr_multiplier is not None and rec.examples == split.counts["train"]

    diagnosis = sftwise.diagnose(CURVES / "tiny-over-1.jsonl", plot=tmp_path / "curves.png")
    assert diagnosis.verdict == json.loads((CURVES / "labels.json").read_text())["tiny-over-1"]
    assert (tmp_path / "curves.png").stat().st_size > 0
    for result in (audit, dedup, split, rec, diagnosis):
        assert isinstance(result, BaseModel)


def test_convert_returns_what_it_wrote(tmp_path):
    out = tmp_path / "train.messages.jsonl"
    result = sftwise.convert(sample_paths()["validation"], out, to="messages")
    assert sftwise.read(out).dataset.format == "messages" and len(sftwise.read(out).dataset) == len(result.dataset)


@pytest.mark.parametrize(("call", "parameter"), [
    (lambda tmp: sftwise.convert(sample_paths()["test"], tmp / "x.jsonl", to="yaml"), "to"),
    (lambda tmp: sftwise.dedup(sample_paths()["test"], tmp / "x.jsonl", unit="byte"), "unit"),
    (lambda tmp: sftwise.dedup(sample_paths()["test"], tmp / "x.jsonl", keep="last"), "keep"),
    (lambda tmp: sftwise.dedup(sample_paths()["test"], tmp), "output"),
    (lambda tmp: sftwise.train(model="m", train="t.jsonl"), "run_dir"),
    (lambda tmp: sftwise.train(model="m", train="t", run_dir=tmp, truncate=True, drop=True), "truncate"),
    (lambda tmp: sftwise.train(model="m", train="t", run_dir=tmp, rank=0), "rank"),
    (lambda tmp: sftwise.train(config={"model": "m", "train": "t"}, epochs=0), "epochs"),
    (lambda tmp: sftwise.evaluate(tmp / "out", predictions="p.jsonl", max_new_tokens=0), "max_new_tokens"),
    (lambda tmp: sftwise.skew(sample_paths()["train"], sample_paths()["test"], max_examples=2), "max_examples"),
])
def test_bad_values_name_the_python_parameter(tmp_path, call, parameter):
    with pytest.raises(ParameterError) as info:
        call(tmp_path)
    assert info.value.parameter == parameter and "--" not in str(info.value)
