"""Every finding code of formats and audit (SW1xx-SW4xx) is triggered by a minimal bad file, with file:line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from sftwise.audit import AuditContext, audit, load_checks
from sftwise.audit.base import CROSS_SPLIT_CHECKS, cross_split_check
from sftwise.conversation import Conversation, Dataset
from sftwise.findings import RULES, Finding
from sftwise.formats import write

SYS = {"parts": [{"text": "Answer with one word."}]}


def g(user: str | None = "question", model: str | None = "answer", system: dict | None = SYS, **extra) -> dict:
    obj: dict = {"systemInstruction": system} if system else {}
    obj["contents"] = []
    if user is not None:
        obj["contents"].append({"role": "user", "parts": [{"text": user}]})
    if model is not None:
        obj["contents"].append({"role": "model", "parts": [{"text": model}]})
    obj.update(extra)
    return obj


def lines(*objs) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objs)


def filler(n: int = 30, prefix: str = "q") -> list[dict]:
    return [g(f"{prefix} number {i} about topic {i * 7}", f"answer {i}") for i in range(n)]


def turns(*pairs, system=SYS) -> dict:
    obj: dict = {"systemInstruction": system} if system else {}
    obj["contents"] = [{"role": r, "parts": [{"text": t}]} for r, t in pairs]
    return obj


# code -> (file bytes, the 1-based line the finding must point at, or None for a file-level finding)
CASES: dict[str, tuple[bytes, int | None]] = {
    "SW100": (lines(g(), b'{"contents": [}'), 2),
    "SW101": (lines(g(), [1, 2]), 2),
    "SW102": (lines(g(), g(id=3)), 2),
    "SW103": (lines(g(), {"contents": [{"role": "user"}]}), 2),
    "SW104": (lines(g(), {"contents": "hello"}), 2),
    "SW105": (lines(turns(("user", "q"), ("assistant", "a"))), 1),
    "SW106": (lines(turns(("system", "s"), ("user", "q"), ("model", "a"))), 1),
    "SW107": (lines(g(), g(), {"prompt": "q", "completion": "a"}), 3),
    "SW108": (lines(g(), '{"prompt": "caf\u00e9", "completion": "x"}'.encode("latin-1")), 2),
    "SW109": (b"\xef\xbb\xbf" + lines(g()), 1),
    "SW110": (lines(g()).replace(b"\n", b"\r\n"), 1),
    "SW111": (lines(g()) + json.dumps(g()).encode()[:20], 2),
    "SW112": (json.dumps([g(), g()]).encode(), 1),
    "SW113": (b"", None),
    "SW114": (b"\x00\x01binary\x00", None),
    "SW115": (lines(g(), {"question": "q", "answer": "a"}), 2),
    "SW116": (lines(g(), g(user="x" * 1_100_000)), 2),
    "SW117": (lines(g()) + b"\n" + lines(g("other")), 2),
    "SW118": (lines(g(), {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}, {"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]}), 2),
    "SW120": (lines(g(), g(model="  ")), 2),
    "SW121": (lines(g(), g(system={"parts": [{"text": ""}]})), 2),
    "SW122": (lines(g(), turns(("user", "a"), ("user", "b"), ("model", "c"))), 2),
    "SW123": (lines(g(), g(model=None)), 2),
    "SW124": (lines(g(), turns(("user", "a"), ("model", "b"), ("user", "c"))), 2),
    "SW125": (lines(g(), turns(("model", "hi"), ("user", "a"), ("model", "b"))), 2),
    "SW126": (lines(g(), {"contents": []}), 2),
    "SW127": (lines(g(), {"contents": [{"role": "user", "parts": [{"functionCall": {"name": "f"}}, {"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]}), 2),
    "SW201": (lines(g(), g(user="long " * 200)), 2),
    "SW202": (lines(g()), None),
    "SW206": (lines(g(), g(user="x" * 360)), 2),
    "SW301": (lines(g()), None),
    "SW302": (lines(*filler(5), g("no system", system=None)), 6),
    "SW303": (lines(*filler(5), g("odd", system={"parts": [{"text": "Answer with two words."}]})), 6),
    "SW305": (lines(*filler(40), g("long answer", "word " * 400)), 41),
    "SW306": (lines(g(system=None), g("b", system=None)), None),
    "SW401": (lines(g("same"), g("other"), g("same")), 3),
    "SW402": (lines(g("same", "yes"), g("other"), g("same", "no")), 3),
}


def _audit_file(tmp_path: Path, data: bytes, **kwargs):
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)
    return audit(path, max_tokens=kwargs.pop("max_tokens", 100), **kwargs)


@pytest.mark.parametrize("code", sorted(CASES))
def test_code_is_triggered_with_location(tmp_path: Path, code: str) -> None:
    data, line = CASES[code]
    report = _audit_file(tmp_path, data)
    hits = [f for f in report.findings if f.code == code]
    assert hits, f"{code} not reported; got {[str(f) for f in report.findings]}"
    f = hits[0]
    assert f.severity == RULES[code].severity
    assert f.message and f.hint, "every finding says what is wrong and how to fix it"
    assert f.file and f.file.endswith("train.jsonl")
    if line is not None:
        assert f.line == line, str(f)
    assert code in RULES and RULES[code].why


def _split_files(tmp_path: Path, **splits: list[dict]) -> dict[str, Path]:
    paths = {}
    for name, objs in splits.items():
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_bytes(lines(*objs))
    return paths


def test_sw403_split_overlap_points_at_the_later_split(tmp_path: Path) -> None:
    p = _split_files(tmp_path, train=filler(10), validation=[g("fresh"), filler(10)[3]], test=[filler(10)[5], g("fresh")])
    report = audit(p["train"], validation=p["validation"], test=p["test"])
    hits = sorted((Path(f.file).name, f.line, f.message) for f in report.findings if f.code == "SW403")
    assert hits == [("test.jsonl", 1, "the same input is in train (line 6)."), ("test.jsonl", 2, "the same input is in validation (line 1)."),
                    ("validation.jsonl", 2, "the same input is in train (line 4).")]


def test_sw304_template_drift_between_train_and_validation(tmp_path: Path) -> None:
    train = [g(f"Classify this ticket: item {i}", '{"label": "a"}') for i in range(30)]
    val = [g(f"item {i} please", "label a", system={"parts": [{"text": "Something else."}]}) for i in range(10)]
    p = _split_files(tmp_path, train=train, validation=val)
    drift = [f for f in audit(p["train"], validation=p["validation"]).findings if f.code == "SW304"]
    features = " ".join(f.message for f in drift)
    assert "system instruction" in features and "prompt start" in features and "output format" in features
    assert all(f.file.endswith("validation.jsonl") for f in drift)
    same = _split_files(tmp_path, train=train, validation=train[:5])
    assert not [f for f in audit(same["train"], validation=same["validation"]).findings if f.code == "SW304"]


def test_tokenizer_and_limit_findings(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(lines(g()))
    codes = {f.code for f in audit(path).findings}
    assert {"SW203", "SW205"} <= codes
    report = audit(path, model=str(tmp_path / "no-such-model"))
    assert "SW204" in {f.code for f in report.findings}
    assert audit(path, model="gemini-2.5-flash").max_tokens == 131_072
    assert audit(path, model="llama-3-8b", max_tokens=500).max_tokens == 500


def test_hf_tokenizer_counts_tokens(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from sftwise.demo.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny", ["question answer word " * 20], hidden_size=16, num_layers=1)
    path = tmp_path / "train.jsonl"
    path.write_bytes(lines(g("question answer word " * 400, "answer")))
    report = audit(path, model=str(model))
    stats = report.stats["train"]
    assert not stats.tokens_estimated and report.tokenizer == str(model)
    assert report.max_tokens == 512  # max_position_embeddings of the tiny model
    assert {"SW201"} <= {f.code for f in report.findings} and "SW203" not in {f.code for f in report.findings}


def test_stats_have_the_vertex_shape(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(lines(*filler(20)))
    s = audit(path).stats["train"]
    assert s.example_count == 20 and s.total_characters > 0 and s.tokens_estimated
    d = s.input_tokens.model_dump()
    for key in ("sum", "min", "max", "mean", "median", "p5", "p95", "p50", "p90", "p99", "buckets"):
        assert key in d
    assert sum(b["count"] for b in d["buckets"]) == 20
    assert s.messages_per_example.max == 3  # system + user + model


def test_max_listed_caps_locations_and_counts_the_rest(tmp_path: Path) -> None:
    report = _audit_file(tmp_path, lines(*[g(f"q{i}", "") for i in range(30)]), max_listed=5)
    empties = [f for f in report.findings if f.code == "SW120"]
    assert len([f for f in empties if f.line]) == 5
    assert any("25 more" in f.message for f in empties)


def test_clean_sample_has_no_errors_or_warnings() -> None:
    from sftwise.demo.sample import sample_paths

    p = sample_paths()
    report = audit(p["train"], validation=p["validation"], test=p["test"], max_tokens=1024)
    assert [str(f) for f in report.findings if f.severity.value != "info"] == []
    assert report.stats["train"].example_count == 480


def test_a_check_plugin_is_called_with_every_split_and_the_target(tmp_path: Path) -> None:
    seen: dict = {}

    @cross_split_check
    def plugin(splits: dict[str, Dataset], ctx: AuditContext) -> Iterable[Finding]:
        seen.update(splits=sorted(splits), target=ctx.target, n=len(ctx.profiles["train"]))
        return []

    @cross_split_check
    def broken(splits: dict[str, Dataset], ctx: AuditContext) -> Iterable[Finding]:
        raise RuntimeError("boom")

    try:
        p = _split_files(tmp_path, train=filler(3), validation=filler(2, "v"))
        report = audit(p["train"], validation=p["validation"], target="my-target")
        assert seen == {"splits": ["train", "validation"], "target": "my-target", "n": 3}
        (failed,) = [f for f in report.findings if f.code == "SW199"]
        assert "boom" in failed.message
    finally:
        CROSS_SPLIT_CHECKS.remove(plugin)
        CROSS_SPLIT_CHECKS.remove(broken)


def test_audit_accepts_datasets_in_memory() -> None:
    data = Dataset.from_conversations([Conversation.from_pairs([("user", "a"), ("model", "b")])] * 2)
    codes = {f.code for f in audit(data).findings}
    assert "SW401" in codes


def test_every_code_of_formats_and_audit_is_covered() -> None:
    load_checks()
    # SW210-SW218 (the supervision report) need a model's tokenizer: tests/training/test_supervision.py triggers each
    mine = {c for c, r in RULES.items() if (c[:3] in ("SW1", "SW2", "SW3") and not c.startswith("SW21")) or c in ("SW401", "SW402", "SW403")}
    covered = set(CASES) | {"SW119", "SW199", "SW203", "SW204", "SW205", "SW304", "SW403"}  # SW119: test_formats_bad_input
    covered |= {"SW140", "SW141", "SW142", "SW143"}  # file parts: tests/test_audit_limits_targets.py
    assert mine - covered == set()


def test_gsm8k_audits_clean_apart_from_genuine_findings(tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k"
    if not (shared / "train.jsonl").exists():
        pytest.skip("../shared/data/gsm8k is absent")
    from sftwise.formats import read

    mapping = {"question": "prompt", "answer": "completion"}
    paths = {}
    for split in ("train", "test"):
        result = read(shared / f"{split}.jsonl", field_map=mapping)
        assert result.findings == []
        paths[split] = write(result.dataset, tmp_path / f"{split}.jsonl", "gemini")
    report = audit(paths["train"], test=paths["test"], max_tokens=1024)
    assert report.stats["train"].example_count == 7473 and report.stats["test"].example_count == 1319
    assert not report.has_errors, [str(f) for f in report.findings if f.severity.value == "error"][:5]
    codes = {f.code for f in report.findings}
    # genuine: no system instruction anywhere (SW306), long reasoning outliers (SW305), estimates (SW203),
    # and three test questions written on the template of a training question with other numbers (SW421)
    assert codes <= {"SW306", "SW305", "SW202", "SW203", "SW206", "SW401", "SW402", "SW421"}, codes
    near_leaks = [f for f in report.findings if f.code == "SW421"]
    assert 1 <= len(near_leaks) <= 5 and all(f.file.endswith("test.jsonl") and f.line for f in near_leaks)


def test_target_runs_the_gemini_limit_checks(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(lines(*filler(5)))
    report = audit(path, target="gemini-2.5-flash")
    assert report.target == "gemini-2.5-flash"
    assert any(f.code.startswith("SW6") for f in report.findings)


def test_any_json_lines_audit_without_a_failed_check(tmp_path_factory: pytest.TempPathFactory) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    text = st.sampled_from(["", " ", "q", "a b", "{}"])
    role = st.sampled_from(["user", "model", "assistant", "system", "bot", 3])
    turn = st.fixed_dictionaries({"role": role, "parts": st.lists(st.fixed_dictionaries({"text": text}), max_size=2)})
    record = st.fixed_dictionaries({"contents": st.lists(turn, max_size=4)},
                                   optional={"systemInstruction": st.fixed_dictionaries({"parts": st.lists(st.fixed_dictionaries({"text": text}), max_size=2)})})
    other = st.fixed_dictionaries({"messages": st.lists(st.fixed_dictionaries({"role": role, "content": text}), max_size=3)})
    folder = tmp_path_factory.mktemp("prop")

    @settings(max_examples=60, deadline=None)
    @given(st.lists(record | other, min_size=1, max_size=6), st.lists(record, max_size=3))
    def check(train: list, val: list) -> None:
        (folder / "t.jsonl").write_bytes(lines(*train))
        (folder / "v.jsonl").write_bytes(lines(*val) if val else b"")
        report = audit(folder / "t.jsonl", validation=folder / "v.jsonl", max_tokens=5)
        assert not [str(f) for f in report.findings if f.code in ("SW119", "SW199")]

    check()


SRC = Path(__file__).resolve().parents[1] / "src" / "sftwise"


def test_the_catalogue_is_one_table_in_code_order() -> None:
    from sftwise.codes import CODES

    order = [row[0] for row in CODES]
    assert order == sorted(set(order)), "sftwise/codes.py: one row per code, in code order"
    assert list(RULES) == order
    for code, name, severity, summary, why, _example in CODES:
        assert code[:2] == "SW" and len(code) == 5 and code[2:].isdigit(), code
        assert name and name == name.lower() and " " not in name, (code, name)
        assert severity in ("error", "warning", "info") and summary.endswith(".") and why, code


def test_every_code_used_in_src_is_catalogued() -> None:
    import re

    used: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        if path.name == "codes.py" and path.parent == SRC:
            continue
        for code in re.findall(r"""["'](SW\d{3})["']""", path.read_text(encoding="utf-8")):
            used.setdefault(code, str(path.relative_to(SRC)))
    assert len(used) > 50  # the pattern does find the codes (emit("SW...", code="SW...", listed("SW..."))
    missing = {code: where for code, where in used.items() if code not in RULES}
    assert not missing, f"add these codes to sftwise/codes.py: {missing}"
    assert set(RULES) - set(used) == set(), "a catalogued code that nothing emits"


def test_constants_quoted_in_the_catalogue_match_the_code() -> None:
    from sftwise.audit.dataset import RECOMMENDED_MIN_EXAMPLES
    from sftwise.gemini.limits import MAX_IMAGES_PER_EXAMPLE

    assert f"Fewer than {RECOMMENDED_MIN_EXAMPLES} " in RULES["SW301"].summary
    assert f"more than {MAX_IMAGES_PER_EXAMPLE} images" in RULES["SW605"].summary


def test_explain_needs_no_stage_module() -> None:
    """``sftwise explain`` of a code of every family, in a fresh interpreter, imports none of the
    modules that emit them (the catalogue is data, not a side effect of importing a stage)."""
    import subprocess
    import sys

    families = ["SW100", "SW120", "SW199", "SW201", "SW301", "SW401", "SW420", "SW430", "SW501", "SW601", "SW801"]
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from sftwise.cli import app\n"
        f"for code in {families!r}:\n"
        "    result = CliRunner().invoke(app, ['explain', code])\n"
        "    assert result.exit_code == 0 and code in result.output, (code, result.output)\n"
        "stages = ('sftwise.audit', 'sftwise.hygiene', 'sftwise.judge', 'sftwise.gemini', 'sftwise.formats')\n"
        "print(sorted(m for m in sys.modules if m.startswith(stages)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_a_plugin_module_in_the_package_is_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module dropped into sftwise/audit/ is imported by the audit (pkgutil), its check runs, and a
    plug-in that fails to import is reported as SW199 instead of stopping the audit."""
    import sys

    import sftwise.audit as package

    (tmp_path / "my_plugin_check.py").write_text(
        "from sftwise.audit.base import cross_split_check\n"
        "from sftwise.findings import emit\n\n"
        "@cross_split_check\n"
        "def plugin(splits, ctx):\n"
        "    yield emit('SW199', 'plug-in ran on ' + ','.join(splits), 'a hint')\n"
    )
    (tmp_path / "broken_plugin_check.py").write_text("raise RuntimeError('broken on import')\n")
    before = list(CROSS_SPLIT_CHECKS)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    monkeypatch.setattr(package, "_loaded", False)
    monkeypatch.setattr(package, "_load_errors", [])
    try:
        p = _split_files(tmp_path, train=filler(3))
        messages = [f.message for f in audit(p["train"]).findings if f.code == "SW199"]
        assert "plug-in ran on train" in messages
        assert any("'broken_plugin_check' failed to import (RuntimeError: broken on import)" in m for m in messages)
    finally:
        CROSS_SPLIT_CHECKS[:] = before
        for name in ("sftwise.audit.my_plugin_check", "sftwise.audit.broken_plugin_check"):
            sys.modules.pop(name, None)
