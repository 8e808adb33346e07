"""``dedup()``: exact, near, semantic duplicates and repeated substrings of one dataset, with a report.

The stages run in this order, each on the records the previous ones kept, so every removed record
has exactly one reason:

1. ``exact``    identical normalised text (:mod:`sftwise.hygiene.exact`);
2. ``near``     MinHash + LSH, verified by exact Jaccard (:mod:`sftwise.hygiene.minhash`);
3. ``semantic`` embedding clusters (:mod:`sftwise.hygiene.semantic`);
4. ``substr``   repeated substrings in the kept records, reported and optionally cut out
                (:mod:`sftwise.hygiene.substr`); it runs last so that duplicate records, already
                removed, do not count as repeated text.

Each duplicate cluster keeps one representative: the first in file order (``keep="first"``) or the
one with the longest model output (``keep="longest"``, ties to the first). The input dataset is
never modified; cutting substrings works on copies of the conversations.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from sftwise.conversation import Conversation, Dataset, Part, Record
from sftwise.hygiene.text import Normalization, check_field, texts_of
from sftwise.hygiene.minhash import MinHashConfig, jaccard, shingle_set
from sftwise.findings import Finding, emit
from sftwise.errors import SftwiseError

METHODS = ("exact", "near", "substr", "semantic")
Keep = Literal["first", "longest"]


class DedupConfig(BaseModel):
    methods: list[str] = Field(default_factory=lambda: ["exact", "near"])
    field: str = "full"
    normalization: Normalization = Field(default_factory=Normalization)
    minhash: MinHashConfig = Field(default_factory=MinHashConfig)
    keep: Keep = "first"
    substr_min_tokens: int = Field(50, ge=1)
    substr_include_system: bool = False
    cut_substrings: bool = False
    semantic_threshold: float = Field(0.95, gt=0, le=1)
    semantic_model: str | None = None
    min_topic_size: int = Field(50, ge=2)
    seed: int = 0
    shard_size: int = Field(50_000, ge=1)

    def validated(self) -> DedupConfig:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise SftwiseError(f"unknown dedup method(s) {', '.join(unknown)}; expected a comma-separated list of {', '.join(METHODS)}.")
        if not self.methods:
            raise SftwiseError(f"no dedup method given; expected one or more of {', '.join(METHODS)}.")
        check_field(self.field)
        self.minhash.lsh_params()
        return self


class Location(BaseModel):
    file: str | None
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class RemovedRecord(BaseModel):
    file: str | None
    line: int
    reason: str  # exact | near | semantic
    cluster: int
    kept_line: int
    similarity: float | None = None  # exact Jaccard to the kept record (near: always set, may be under the threshold when chained)


class DuplicateCluster(BaseModel):
    id: int
    method: str
    kept: Location
    members: list[Location]
    similarity: float | None = None  # the lowest verified similarity inside the cluster


class SubstringSpan(BaseModel):
    file: str | None
    line: int
    field: str  # system | turns[i].parts[j]
    start: int
    end: int
    occurrences: int
    text: str  # shortened to 200 characters in the report
    cut: bool = False


class TopicCluster(BaseModel):
    size: int
    terms: list[str]
    examples: list[Location]


class DedupReport(BaseModel):
    input: str | None
    records: int
    kept: int
    removed: int
    by_method: dict[str, int]
    settings: dict[str, str]
    clusters: list[DuplicateCluster]
    removed_records: list[RemovedRecord]
    substrings: list[SubstringSpan] = Field(default_factory=list)
    substrings_cut: int = 0
    topics: list[TopicCluster] = Field(default_factory=list)
    embedder: str | None = None
    seconds: dict[str, float] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)


def _output_length(c: Conversation) -> int:
    return len(c.output_text())


def _representative(members: Sequence[int], conversations: Sequence[Conversation], keep: str) -> int:
    if keep == "longest":
        return max(members, key=lambda i: (_output_length(conversations[i]), -i))
    return min(members)


def dedup(
    dataset: Dataset, config: DedupConfig | None = None, progress: Callable[[str], None] | None = None
) -> tuple[Dataset, DedupReport]:
    """Remove duplicates from ``dataset``; returns the kept records (a new Dataset) and the report."""
    cfg = (config or DedupConfig()).validated()
    say = progress or (lambda _msg: None)
    records = list(dataset.records)
    conversations = [r.conversation for r in records]
    norm = cfg.normalization
    texts = [norm.apply(t) for t in texts_of(conversations, cfg.field)]
    alive = list(range(len(records)))
    clusters: list[DuplicateCluster] = []
    removed: list[RemovedRecord] = []
    findings: list[Finding] = []
    by_method: dict[str, int] = {}
    seconds: dict[str, float] = {}

    def loc(i: int) -> Location:
        return Location(file=records[i].source.path, line=records[i].source.line)

    def take(groups: list[list[int]], method: str, code: str, sims: dict[tuple[int, int], float] | None = None) -> None:
        gone: set[int] = set()
        for members in groups:
            kept = _representative(members, conversations, cfg.keep)
            cid = len(clusters) + 1
            lowest = None
            if sims is not None:
                inside = [s for (a, b), s in sims.items() if a in members and b in members] if len(members) < 200 else []
                lowest = min(inside) if inside else None
            clusters.append(DuplicateCluster(id=cid, method=method, kept=loc(kept), members=[loc(i) for i in members], similarity=lowest))
            kept_shingles: set | None = None  # the kept record's shingle set, made once per cluster when a member needs it
            for i in members:
                if i == kept:
                    continue
                gone.add(i)
                sim = None
                if sims is not None:
                    sim = sims.get((min(i, kept), max(i, kept)))
                if sim is None and method == "near":
                    # joined through other members (connected components): say how close it is to the
                    # record it is dropped for, even when that is under the threshold
                    if kept_shingles is None:
                        kept_shingles = shingle_set(texts[kept], cfg.minhash.unit, cfg.minhash.ngram)
                    sim = round(jaccard(shingle_set(texts[i], cfg.minhash.unit, cfg.minhash.ngram), kept_shingles), 4)
                removed.append(RemovedRecord(file=records[i].source.path, line=records[i].source.line, reason=method,
                                             cluster=cid, kept_line=records[kept].source.line, similarity=sim))
                what = {"exact": "exact duplicate", "near": "near duplicate", "semantic": "semantic duplicate"}[method]
                extra = f", similarity {sim:.2f}" if sim is not None else ""
                if method == "near" and sim is not None and sim < cfg.minhash.threshold:
                    extra += ", linked through other members of the cluster"
                findings.append(emit(code, f"{what} of {loc(kept)} (cluster {cid}{extra}); removed.",
                                     hint="Kept the cluster's representative; see the dedup report for every member.",
                                     file=records[i].source.path, line=records[i].source.line))
        by_method[method] = len(gone)
        alive[:] = [i for i in alive if i not in gone]

    if "exact" in cfg.methods:
        t0 = time.perf_counter()
        say("exact duplicates")
        from sftwise.hygiene.exact import exact_groups

        sub = [texts[i] for i in alive]
        groups = [[alive[j] for j in g] for g in exact_groups(sub)]
        take(groups, "exact", "SW430")
        seconds["exact"] = round(time.perf_counter() - t0, 3)

    if "near" in cfg.methods:
        t0 = time.perf_counter()
        say("near duplicates (MinHash + LSH)")
        from sftwise.hygiene.minhash import near_duplicates

        nonempty = [i for i in alive if texts[i]]
        result = near_duplicates([texts[i] for i in nonempty], cfg.minhash, shard_size=cfg.shard_size)
        sims = {(nonempty[a], nonempty[b]): s for a, b, s in result.pairs}
        take([[nonempty[j] for j in g] for g in result.clusters], "near", "SW431", sims)
        seconds["near"] = round(time.perf_counter() - t0, 3)

    topics: list[TopicCluster] = []
    embedder = None
    if "semantic" in cfg.methods:
        t0 = time.perf_counter()
        say("semantic clusters")
        from sftwise.hygiene.semantic import semantic_clusters

        before = list(alive)
        sem = semantic_clusters([texts[i] for i in before], cfg.semantic_threshold, cfg.semantic_model, cfg.min_topic_size, cfg.seed)
        embedder = sem.embedder
        sims = {(before[a], before[b]): s for (a, b), s in sem.similarities.items()}
        take([[before[j] for j in g] for g in sem.clusters], "semantic", "SW433", sims)
        for topic in sem.topics:
            members = [before[j] for j in topic.members]
            topics.append(TopicCluster(size=len(members), terms=topic.terms, examples=[loc(i) for i in members[:5]]))
            first = members[0]
            findings.append(emit("SW434", f"{len(members)} similar records ({', '.join(topic.terms[:5]) or 'no terms'}), e.g. lines {', '.join(str(records[i].source.line) for i in members[:5])}.",
                                 hint="Check this topic's share matches what production needs.", file=records[first].source.path, line=records[first].source.line))
        seconds["semantic"] = round(time.perf_counter() - t0, 3)

    kept_conversations = {i: conversations[i] for i in alive}
    spans_out: list[SubstringSpan] = []
    cut = 0
    if "substr" in cfg.methods:
        t0 = time.perf_counter()
        say("repeated substrings (suffix array)")
        from sftwise.hygiene.substr import cut_spans, repeated_spans

        units: list[tuple[int, str, int | None, int | None, str]] = []  # (record, field, turn, part, text)
        for i in alive:
            c = conversations[i]
            if cfg.substr_include_system and c.system:
                units.append((i, "system", None, None, c.system))
            for t, turn in enumerate(c.turns):
                for p, part in enumerate(turn.parts):
                    if part.text:
                        units.append((i, f"turns[{t}].parts[{p}]", t, p, part.text))
        spans = repeated_spans([u[4] for u in units], cfg.substr_min_tokens)
        if cfg.cut_substrings and spans:
            new_texts = cut_spans([u[4] for u in units], spans)
            for (i, fld, t, p, old), new in zip(units, new_texts):
                if new == old:
                    continue
                c = kept_conversations[i]
                if c is conversations[i]:
                    c = kept_conversations[i] = copy.deepcopy(c)
                if t is None:
                    c.system = new
                else:
                    c.turns[t].parts[p] = Part(text=new)
            cut = sum(1 for s in spans if not s.first)
        for s in spans:
            i, fld = units[s.unit][0], units[s.unit][1]
            will_cut = cfg.cut_substrings and not s.first
            spans_out.append(SubstringSpan(file=records[i].source.path, line=records[i].source.line, field=fld, start=s.start, end=s.end,
                                           occurrences=s.occurrences, text=s.text[:200], cut=will_cut))
            findings.append(emit("SW432", f"{len(s.text)} characters at {s.start}-{s.end} occur {s.occurrences}x in the dataset: {s.text[:60]!r}" + ("; cut." if will_cut else "."),
                                 hint="Boilerplate repeated across examples is memorised verbatim; cut_substrings (--cut-substrings) removes later copies.",
                                 file=records[i].source.path, line=records[i].source.line, field=fld))
        by_method["substr"] = len(spans)
        seconds["substr"] = round(time.perf_counter() - t0, 3)

    kept_records = [Record(kept_conversations[i], records[i].source) for i in alive]
    out = Dataset(records=kept_records, path=dataset.path, format=dataset.format)
    settings = {"field": cfg.field, "normalization": cfg.normalization.signature(), "methods": ",".join(cfg.methods), "keep": cfg.keep}
    if "near" in cfg.methods:
        settings["near"] = cfg.minhash.signature()
    if "substr" in cfg.methods:
        settings["substr"] = f"suffix-array|min_tokens={cfg.substr_min_tokens}|bytes_per_token=2|cut={cfg.cut_substrings}"
    if "semantic" in cfg.methods:
        settings["semantic"] = f"{embedder}|cosine>={cfg.semantic_threshold}|seed={cfg.seed}"
    report = DedupReport(
        input=dataset.path, records=len(records), kept=len(kept_records), removed=len(records) - len(kept_records),
        by_method=by_method, settings=settings, clusters=clusters, removed_records=removed, substrings=spans_out,
        substrings_cut=cut, topics=topics, embedder=embedder, seconds=seconds, findings=findings,
    )
    return out, report
