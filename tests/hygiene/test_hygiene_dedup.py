from __future__ import annotations

import pytest

from sftwise.conversation import Conversation, Dataset
from sftwise.hygiene import DedupConfig, Normalization, cut_spans, dedup, repeated_spans
from sftwise.hygiene.minhash import MinHashConfig
from sftwise.errors import SftwiseError


def ds(pairs, system=None):
    return Dataset.from_conversations([Conversation.from_pairs([("user", q), ("model", a)], system=system) for q, a in pairs], "train.jsonl")


QA = [
    ("What is the capital of France and why is it famous?", "Paris."),
    ("what is the   capital of FRANCE and why is it famous?", "Paris, the city of light, on the Seine."),
    ("How many legs does a spider have in total, counting all of them?", "Eight."),
    ("How many legs does a spider have in total, counting every one of them?", "8"),
    ("Translate good morning into German for me please.", "Guten Morgen."),
]


def test_exact_near_and_keep_longest():
    out, report = dedup(ds(QA), DedupConfig(field="input"))
    assert report.by_method == {"exact": 1, "near": 1}
    assert [r.source.line for r in out.records] == [1, 3, 5]
    removed = {(r.line, r.reason, r.kept_line) for r in report.removed_records}
    assert removed == {(2, "exact", 1), (4, "near", 3)}
    assert all(r.cluster >= 1 for r in report.removed_records)
    out, report = dedup(ds(QA), DedupConfig(field="input", keep="longest"))
    assert [r.source.line for r in out.records] == [2, 3, 5]


def test_normalisation_switches():
    strict = DedupConfig(methods=["exact"], field="input", normalization=Normalization(case=False, whitespace=False))
    assert dedup(ds(QA), strict)[1].removed == 0
    assert Normalization(punctuation=True).apply("Hello, World!") == "hello world"


def test_substrings_reported_and_cut_without_touching_the_input():
    header = "You are a helpful assistant for ACME Corp. Answer briefly, politely and only about ACME products. "
    data = ds([(header + "How do I reset my router?", "Hold the button."), (header + "Where is my invoice?", "In your account."),
               ("Unrelated question about the weather today?", "Sunny.")])
    out, report = dedup(data, DedupConfig(methods=["substr"], substr_min_tokens=20, cut_substrings=True))
    assert report.substrings and report.substrings_cut == 1
    assert out.records[1].conversation.turns[0].text == "Where is my invoice?"
    assert data.records[1].conversation.turns[0].text.startswith(header)  # the input is untouched
    assert any(f.code == "SW432" for f in report.findings)


def test_repeated_spans_unicode_boundaries():
    texts = ["前缀" + "重复的中文句子出现了两次。" * 3, "后缀" + "重复的中文句子出现了两次。" * 3]
    spans = repeated_spans(texts, min_bytes=30)
    assert spans and all(s.text in texts[s.unit] for s in spans)
    assert cut_spans(texts, spans)[1] != texts[1]
    assert repeated_spans([], 50) == [] and repeated_spans(["a"], 50) == []


def test_semantic_offline_fallback():
    pairs = [(f"Please summarise this article about topic {i}: the economy grew and markets rallied strongly.", "ok") for i in range(3)]
    pairs += [("A totally different request: write a haiku about autumn leaves falling.", "ok")]
    out, report = dedup(ds(pairs), DedupConfig(methods=["semantic"], semantic_threshold=0.9, min_topic_size=2))
    assert report.embedder.startswith("tfidf-lsa")
    assert report.by_method["semantic"] == 2
    with pytest.raises(SftwiseError, match="sentence-transformers|could not load"):
        dedup(ds(pairs), DedupConfig(methods=["semantic"], semantic_model="/nonexistent/model"))


@pytest.mark.parametrize(
    "pairs",
    [[], [("only one", "x")], [("same", "same")] * 20, [("a", "b"), ("c", "d"), ("a", "b")], [("x" * 1_000_000, "y")] * 2,
     [("Привет, как дела? Всё хорошо, спасибо.", "да"), ("مرحبا كيف حالك اليوم يا صديقي", "نعم"), ("我喜欢学习机器学习和深度学习", "是")]],
    ids=["empty", "one", "identical", "one-char", "1MB", "non-latin"],
)
def test_bad_input_does_not_crash(pairs):
    out, report = dedup(ds(pairs), DedupConfig(methods=["exact", "near", "substr", "semantic"], min_topic_size=2))
    assert report.kept == len(out) <= max(1, len(pairs))
    if pairs and all(p == pairs[0] for p in pairs):
        assert report.kept == 1


def test_config_errors_are_clear():
    with pytest.raises(SftwiseError, match="unknown dedup method"):
        DedupConfig(methods=["fuzzy"]).validated()
    with pytest.raises(SftwiseError, match="bands x rows"):
        DedupConfig(minhash=MinHashConfig(bands=100, rows=100)).validated()
    with pytest.raises(SftwiseError, match="field"):
        DedupConfig(field="answer").validated()


def test_shared_system_instruction_is_not_compared_and_chained_members_say_so():
    system = "You are a helpful assistant. Answer in one short sentence, politely, in English, without any markdown at all."
    unrelated = [("Where is Lima?", "Peru."), ("What is 7 x 6?", "42."), ("Name a primary colour.", "Red.")]
    _, report = dedup(ds(unrelated, system=system), DedupConfig(field="input"))
    assert report.removed == 0  # the long shared instruction alone would make them look alike
    # a chain: A ~ B and B ~ C, but A and C share little; C is dropped for A only through B
    a = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    b = "alpha beta gamma delta epsilon lambda mu nu xi omicron"
    c = "pi rho sigma tau upsilon lambda mu nu xi omicron"
    _, report = dedup(ds([(a, "1"), (b, "2"), (c, "3")]), DedupConfig(field="input", minhash=MinHashConfig(threshold=0.3)))
    by_line = {r.line: r for r in report.removed_records}
    assert set(by_line) == {2, 3} and all(r.kept_line == 1 for r in by_line.values())
    assert by_line[2].similarity >= 0.3 and by_line[3].similarity < 0.3
    assert any("linked through other members" in f.message and f.line == 3 for f in report.findings)
