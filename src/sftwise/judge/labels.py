"""Human labels: one SQLite table, written label by label, plus CSV/JSONL import and export.

A label is ``(item_id, annotator, task)`` → a score (pointwise, e.g. 1..5) or a preference
(pairwise: ``A``, ``B`` or ``tie``). The table's primary key is that triple, so re-labelling an item
replaces the annotator's earlier label and several annotators label the same items side by side.
Each write is its own committed transaction in WAL mode: a closed tab or a killed server loses nothing
that the page had reported as saved.

Import accepts CSV or JSONL with columns ``id`` (or ``item_id``), ``annotator``, and ``score`` or
``preference``; an optional ``task`` column (the rubric name, or ``pairwise``). Ids that are not in
the results being calibrated become findings naming the file and line, never silent drops.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel

from sftwise.findings import Finding, emit
from sftwise.errors import SftwiseError
from sftwise.io import atomic_write, iter_jsonl, read_text, write_jsonl

PREFERENCES = ("A", "B", "tie")


SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    item_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    task TEXT NOT NULL,
    score REAL,
    preference TEXT,
    note TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    PRIMARY KEY (item_id, annotator, task)
);
"""


class Label(BaseModel):
    item_id: str
    annotator: str
    task: str
    score: float | None = None
    preference: str | None = None
    note: str = ""
    created_at: float = 0.0
    source: str | None = None  # file:line when imported


def connect(db: str | Path) -> sqlite3.Connection:
    path = Path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise SftwiseError(f"{db}: not a usable SQLite labels database ({exc})") from None
    return conn


def save_label(db: str | Path | sqlite3.Connection, label: Label) -> None:
    conn = db if isinstance(db, sqlite3.Connection) else connect(db)
    try:
        conn.execute(
            "INSERT INTO labels(item_id, annotator, task, score, preference, note, created_at) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT(item_id, annotator, task) DO UPDATE SET score=excluded.score, preference=excluded.preference, "
            "note=excluded.note, created_at=excluded.created_at",
            (label.item_id, label.annotator, label.task, label.score, label.preference, label.note, label.created_at or time.time()),
        )
    finally:
        if not isinstance(db, sqlite3.Connection):
            conn.close()


def delete_label(db: str | Path, item_id: str, annotator: str, task: str) -> None:
    conn = connect(db)
    try:
        conn.execute("DELETE FROM labels WHERE item_id=? AND annotator=? AND task=?", (item_id, annotator, task))
    finally:
        conn.close()


def read_labels(db: str | Path, task: str | None = None, annotator: str | None = None) -> list[Label]:
    if not Path(db).is_file():
        raise SftwiseError(f"labels database {db} does not exist")
    conn = connect(db)
    try:
        query = "SELECT item_id, annotator, task, score, preference, note, created_at FROM labels WHERE 1=1"
        args: list[str] = []
        if task is not None:
            query += " AND task=?"
            args.append(task)
        if annotator is not None:
            query += " AND annotator=?"
            args.append(annotator)
        rows = conn.execute(query + " ORDER BY created_at, item_id", args).fetchall()
    finally:
        conn.close()
    return [Label(item_id=r[0], annotator=r[1], task=r[2], score=r[3], preference=r[4], note=r[5], created_at=r[6]) for r in rows]


# ------------------------------------------------------------------------------- import / export
def _row_label(row: dict[str, object], where: str, default_task: str | None) -> Label:
    item = row.get("id", row.get("item_id"))
    if item is None or str(item).strip() == "":
        raise SftwiseError(f"{where}: missing column 'id' (or 'item_id')")
    annotator = str(row.get("annotator") or "").strip()
    if not annotator:
        raise SftwiseError(f"{where}: missing column 'annotator'; every human label names who made it")
    score_raw, pref_raw = row.get("score"), row.get("preference")
    score = None
    if score_raw not in (None, ""):
        try:
            score = float(score_raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SftwiseError(f"{where}: score {score_raw!r} is not a number") from None
    pref = None
    if pref_raw not in (None, ""):
        pref = {"a": "A", "b": "B", "tie": "tie", "same": "tie"}.get(str(pref_raw).strip().lower())
        if pref is None:
            raise SftwiseError(f"{where}: preference {pref_raw!r} is not one of A, B, tie")
    if (score is None) == (pref is None):
        raise SftwiseError(f"{where}: give exactly one of 'score' or 'preference'")
    task = str(row.get("task") or default_task or ("pairwise" if pref else "score"))
    return Label(item_id=str(item).strip(), annotator=annotator, task=task, score=score, preference=pref,
                 note=str(row.get("note") or ""), source=where)


def read_label_file(path: str | Path, default_task: str | None = None) -> list[Label]:
    """Labels from a CSV, a JSONL file or a labels SQLite database (by extension)."""
    file = Path(path)
    if not file.is_file():
        raise SftwiseError(f"labels file {path} does not exist")
    if file.suffix in (".sqlite", ".db", ".sqlite3"):
        labels = read_labels(file)
        return [lab.model_copy(update={"task": lab.task}) for lab in labels]
    labels: list[Label] = []
    if file.suffix == ".csv":
        with io.StringIO(read_text(file, str(path), bom=True), newline="") as handle:
            reader = csv.DictReader(handle)
            try:
                for number, row in enumerate(reader, 2):
                    labels.append(_row_label({k.strip().lower(): v for k, v in row.items() if k}, f"{path}:{number}", default_task))
            except csv.Error as exc:  # a field over 128 KiB, a stray NUL byte: not a labels CSV
                raise SftwiseError(f"{path}:{reader.line_num}: not a labels CSV ({exc}); expected columns id, annotator, score or preference.") from None
    elif file.suffix in (".jsonl", ".json"):
        for number, row in iter_jsonl(path):
            if not isinstance(row, dict):
                raise SftwiseError(f"{path}:{number}: expected a JSON object per line")
            labels.append(_row_label(row, f"{path}:{number}", default_task))
    else:
        raise SftwiseError(f"labels file {path}: expected .csv, .jsonl or a .sqlite database, got '{file.suffix}'")
    if not labels:
        raise SftwiseError(f"labels file {path} holds no labels")
    return labels


def check_ids(labels: Sequence[Label], known_ids: Iterable[str]) -> list[Finding]:
    """One finding per label whose item id is not in the results."""
    known = set(known_ids)
    findings = []
    for lab in labels:
        if lab.item_id not in known:
            file, _, line = (lab.source or "").rpartition(":")
            findings.append(emit("SW801", f"label for unknown example id '{lab.item_id}' (annotator {lab.annotator}) is ignored",
                                 hint="labels must use the ids of the predictions in the results directory; check for a different eval set",
                                 file=file or None, line=int(line) if line.isdigit() else None, field="id"))
    return findings


def import_labels(path: str | Path, db: str | Path, known_ids: Iterable[str] | None = None,
                  default_task: str | None = None) -> tuple[int, list[Finding]]:
    """Import a CSV/JSONL file into the labels database; unknown ids are findings and are not imported."""
    labels = read_label_file(path, default_task)
    findings = check_ids(labels, known_ids) if known_ids is not None else []
    bad = {(f.file, f.line) for f in findings}
    conn = connect(db)
    n = 0
    try:
        for lab in labels:
            file, _, line = (lab.source or "").rpartition(":")
            if (file, int(line) if line.isdigit() else None) in bad:
                continue
            save_label(conn, lab)
            n += 1
    finally:
        conn.close()
    return n, findings


def export_labels(db: str | Path, output: str | Path) -> int:
    labels = read_labels(db)
    out = Path(output)
    columns = ["id", "annotator", "task", "score", "preference", "note", "created_at"]
    rows = [{"id": lab.item_id, "annotator": lab.annotator, "task": lab.task, "score": lab.score, "preference": lab.preference,
             "note": lab.note, "created_at": lab.created_at} for lab in labels]
    if out.suffix == ".csv":
        with atomic_write(out) as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    elif out.suffix in (".jsonl", ".json"):
        write_jsonl(out, rows)
    else:
        raise SftwiseError(f"export path {output}: expected a .csv or .jsonl file name")
    return len(rows)
