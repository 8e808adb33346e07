from __future__ import annotations

import json

import pytest

from sftwise.audit.leakage import find_leakage
from sftwise.conversation import Conversation, Dataset
from sftwise.hygiene import leakage
from sftwise.formats import load
from sftwise.errors import SftwiseError
from sftwise.hygiene.skew import load_production, skew
from sftwise.hygiene.split import split_dataset

from hygiene_data import diverse, write_gemini


def ds(questions, path="x.jsonl", meta=None):
    convs = [Conversation.from_pairs([("user", q), ("model", "answer")]) for q in questions]
    for c, m in zip(convs, meta or [{}] * len(convs)):
        c.meta.update(m)
    return Dataset.from_conversations(convs, path)


TRAIN = diverse(60)


def test_leakage_exact_and_near_with_locations():
    test = [TRAIN[3].upper(),  # exact after normalisation
            TRAIN[10].replace("number", "item") + " Today.",  # near
            "A completely unrelated prompt about baking bread at home."]
    report = leakage(ds(TRAIN, "train.jsonl"), {"test": ds(test, "test.jsonl")})
    kinds = {(x.line, x.kind, x.train_line) for x in report.leaked}
    assert (1, "exact", 4) in kinds and (2, "near", 11) in kinds
    assert report.counts["test"] == {"records": 3, "exact": 1, "near": 1}
    findings = find_leakage(ds(TRAIN, "train.jsonl"), {"test": ds(test, "test.jsonl")})
    assert [f.code for f in findings] == ["SW420", "SW421"]
    assert "train.jsonl:4" in findings[0].message and findings[0].file == "test.jsonl"


def test_leakage_across_formats(tmp_path):
    train = write_gemini(tmp_path / "train.jsonl", [(q, "a") for q in TRAIN])
    with open(tmp_path / "val.jsonl", "w") as handle:  # alpaca, another format than train
        handle.write(json.dumps({"instruction": TRAIN[5], "input": "", "output": "b"}) + "\n")
    report = leakage(load(train), {"validation": load(tmp_path / "val.jsonl")})
    assert report.counts["validation"]["exact"] == 1


def test_split_keeps_duplicates_together_and_is_reproducible(tmp_path):
    questions = TRAIN + [q.upper() + " Think." for q in TRAIN[:20]]
    meta = [{"label": "a" if i % 3 else "b"} for i in range(len(questions))]
    data = ds(questions, "data.jsonl", meta)
    r1 = split_dataset(data, validation=0.2, test=0.2, seed=7, dedup=False, stratify="label", output_dir=tmp_path / "s")
    r2 = split_dataset(data, validation=0.2, test=0.2, seed=7, dedup=False, stratify="label")
    assert r1.counts == r2.counts and sum(r1.counts.values()) == len(questions)
    assert r1.groups_kept_together >= 20
    assert all(v == {"exact": 0, "near": 0} for v in r1.leakage_after.values())
    assert set(r1.strata["test"]) == {"a", "b"}
    assert (tmp_path / "s" / "train.jsonl").exists()
    r3 = split_dataset(data, validation=0.2, test=0.2, seed=8, dedup=True)
    assert r3.duplicates_removed >= 1


def test_split_bad_input():
    with pytest.raises(SftwiseError, match="nothing to split"):
        split_dataset(ds([]))
    with pytest.raises(SftwiseError, match="leave something"):
        split_dataset(ds(TRAIN), validation=0.5, test=0.5)
    with pytest.raises(SftwiseError, match="no record has that field"):
        split_dataset(ds(TRAIN), stratify="label")
    one = split_dataset(ds(["just one"]))
    assert one.counts["train"] == 1 and one.warnings


FORMAL = ["Please provide a concise summary of the attached quarterly financial report, highlighting revenue trends.",
          "Could you explain the difference between supervised and unsupervised learning in two paragraphs?",
          "Draft a polite email to a client informing them that the delivery will be delayed by one week.",
          "Describe the main causes of the French Revolution and their long-term consequences.",
          "Summarise the key findings of the research paper on renewable energy adoption in Europe."]
SLANG = ["hey u there?? need help w my order lol", "pls fix my acct its broken rn", "yo wheres my package bro",
         "idk how to login thx", "omg app crashed again lmao"]


def test_skew_formal_vs_slang(tmp_path):
    train = ds([f + f" (case {i})" for i in range(40) for f in FORMAL[i % 5 : i % 5 + 1]], "train.jsonl")
    prod_file = tmp_path / "prod.txt"
    prod_file.write_text("\n".join(f"{s} {i}" for i in range(40) for s in SLANG[i % 5 : i % 5 + 1]) + "\n")
    production, kind = load_production(prod_file)
    assert kind.startswith("prompts") and len(production) == 40
    report = skew(train, production, permutations=5, production_kind=kind)
    assert report.verdict == "skew"
    text = " ".join(report.summary)
    assert "tuning data is formal, production is chat slang" in text
    names = {s.name: s for s in report.signals}
    assert names["classifier"].verdict == "skew" and names["length:prompt"].verdict == "skew"
    assert all(s.threshold >= 0 and s.verdict in ("skew", "ok", "n/a") for s in report.signals)


def test_skew_same_distribution_is_ok(tmp_path):
    rows = diverse(200, seed=3)
    report = skew(ds(rows[:100], "t"), ds(rows[100:], "p"), permutations=10)
    assert report.verdict == "ok", [s for s in report.signals if s.verdict == "skew"]


def test_production_jsonl_prompts_and_errors(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"query": "where is my order"}\n"just a string prompt"\n')
    production, kind = load_production(path)
    assert [r.conversation.last_user_text for r in production] == ["where is my order", "just a string prompt"]
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(SftwiseError, match="empty"):
        load_production(tmp_path / "empty.txt")
    with pytest.raises(SftwiseError, match="no records"):
        skew(ds([]), production)
