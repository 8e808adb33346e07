"""Every command of the CLI against bad input: no traceback, no modified input, ever.

In the spirit of the probe of issue 18 (262 bad inputs across 18 commands): each command of the
typer app (enumerated from the app, the nested ``jobs`` group included, so a new command is covered
as soon as it is registered: :data:`BASE` must then say how to call it) is run in-process with
:class:`typer.testing.CliRunner` from a small valid invocation, then with one thing broken at a time:

- each input path: missing, a directory, empty, binary, one huge line, the wrong format (CSV where
  JSON is expected, a JSON array, YAML garbage); an input directory: missing, a file, empty, its
  files binary or garbage;
- each output path: unwritable (``EACCES`` simulated, the tests run as root), the same as an input;
- each int/float option: -1 and 0.

A case is *clear* when it ends with exit 0, 1 or 2 and no exception but ``SystemExit``; anything
else is a *traceback*. The sha256 of every input file is taken before and after each case. The
counts (tried / clear / tracebacks / inputs modified) are printed and written to
``fuzz_counts*.json`` under pytest's base temp directory.

Nothing heavy runs: models are paths that do not exist, servers are a closed port on 127.0.0.1 with
no retries, the cache and Google credentials are redirected into tmp, the hub is offline.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import tempfile
import typing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("typer")

import typer.main  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from sftwise.cli import app  # noqa: E402

# ---- the world every case starts from (relative paths below W) ---------------------------------

ROOT_COMMAND = typer.main.get_command(app)


def _commands(cmd=ROOT_COMMAND, path: tuple[str, ...] = ()) -> dict[str, object]:
    """``{"audit": <command>, ..., "jobs list": <command>}``: every leaf command of the app."""
    if hasattr(cmd, "commands"):
        out: dict[str, object] = {}
        for name, sub in cmd.commands.items():
            out.update(_commands(sub, (*path, name)))
        return out
    return {" ".join(path): cmd}


COMMANDS = _commands()


def _free_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: connections are refused at once


CLOSED = f"openai:m@http://127.0.0.1:{_free_closed_port()}/v1"


def _gemini_row(prompt: str, answer: str) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}, {"role": "model", "parts": [{"text": answer}]}]}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _build_world(root: Path) -> None:
    """The valid inputs of every command: datasets, a results directory, a run, labels, configs."""
    colours = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange"]
    _write_jsonl(root / "train.jsonl", [_gemini_row(f"Name the colour of thing {i} in the {w} box.", colours[i % 8])
                                        for i, w in enumerate(["small", "large", "old", "new", "red", "blue"] * 5)])
    _write_jsonl(root / "test.jsonl", [_gemini_row(f"What colour is item {i}?", colours[i % 8]) for i in range(12)])
    (root / "production.txt").write_text("".join(f"how do I reset my password number {i}, please help\n" for i in range(30)), encoding="utf-8")
    _write_jsonl(root / "preds.jsonl", [{"id": f"q{i}", "prediction": colours[i % 8] if i % 3 else "grey", "reference": colours[i % 8]}
                                        for i in range(12)])
    res = CliRunner().invoke(app, ["eval", "-o", str(root / "results"), "--predictions", str(root / "preds.jsonl"),
                                   "--id-field", "id", "--resamples", "20"])
    assert res.exit_code == 0, res.output
    shutil.copytree(root / "results", root / "results2")
    (root / "labels.csv").write_text("item_id,annotator,score,task\n" + "".join(f"q{i},ann,{1 + i % 5},instruction_following\n" for i in range(12)),
                                     encoding="utf-8")
    run = root / "run"
    points = [{"step": s, "epoch": s / 10, "split": "train", "scope": "step", "loss": 2.0 / (1 + s)} for s in range(1, 31)]
    points += [{"step": e * 10, "epoch": float(e), "split": "validation", "scope": "epoch", "loss": 1.0 / e} for e in (1, 2, 3)]
    _write_jsonl(run / "metrics.jsonl", points)
    (root / "spec.yaml").write_text(f"model: {root / 'no-such-model'}\ntrain: {root / 'train.jsonl'}\nrun_dir: {root / 'out' / 'specrun'}\nepochs: 1\n",
                                    encoding="utf-8")
    (root / "pipeline.yaml").write_text(f"name: fuzz\ndata:\n  train: {root / 'train.jsonl'}\n  test: {root / 'test.jsonl'}\n"
                                        f"model:\n  base: {root / 'no-such-model'}\nreport: false\n", encoding="utf-8")
    (root / "schema.json").write_text('{"type": "string"}', encoding="utf-8")
    from importlib import resources

    (root / "rubric.yaml").write_text((resources.files("sftwise.judge") / "rubrics" / "fluency.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "grid.yaml").write_text("judges: ['nosuchbackend:m']\nrubrics: [instruction_following]\nfew_shot: [0]\n", encoding="utf-8")  # fails fast
    res = CliRunner().invoke(app, ["judge", str(root / "results"), "--judge", CLOSED, "--max-retries", "0", "--no-cache", "-o", str(root / "judged")])
    assert res.exit_code == 0, res.output
    (root / "out").mkdir()


W = "{W}"  # replaced by the case's world directory
OUT = "{W}/out"

BASE: dict[str, list[str]] = {
    # one valid (or quickly, clearly failing) invocation per command; a new command needs a row
    "run": [f"{W}/pipeline.yaml", "--run-dir", f"{OUT}/pipe"],
    "demo": ["--run-dir", f"{W}/train.jsonl"],  # refused while the flags are parsed: the demo itself trains for minutes
    "report": [f"{W}/run", "-o", f"{OUT}/report.html"],
    "version": [],
    "audit": [f"{W}/train.jsonl", "--validation", f"{W}/test.jsonl", "--json", f"{OUT}/audit.json"],
    "inspect": [f"{W}/train.jsonl", "--model", f"{W}/no-such-model", "--max-length", "64", "--show", "1", "--json", f"{OUT}/inspect.json"],
    "convert": [f"{W}/train.jsonl", f"{OUT}/converted.jsonl", "--to", "messages"],
    "explain": ["SW201"],
    "dedup": [f"{W}/train.jsonl", "-o", f"{OUT}/dedup.jsonl", "--report", f"{OUT}/dedup.json"],
    "split": [f"{W}/train.jsonl", "-o", f"{OUT}/splits", "--json", f"{OUT}/split.json"],
    "skew": [f"{W}/train.jsonl", f"{W}/production.txt", "--permutations", "2", "--json", f"{OUT}/skew.json"],
    "recommend": ["--model", "gemini-2.5-flash", "--data", f"{W}/train.jsonl", "--json", f"{OUT}/rec.json"],
    "train": ["--model", f"{W}/no-such-model", "--train", f"{W}/train.jsonl", "--validation", f"{W}/test.jsonl",
              "--run-dir", f"{OUT}/trainrun", "--epochs", "1", "--json", f"{OUT}/train.json"],
    "diagnose": [f"{W}/run", "--plot", f"{OUT}/curves.png", "--json", f"{OUT}/diag.json"],
    "eval": ["-o", f"{OUT}/eval", "--predictions", f"{W}/preds.jsonl", "--id-field", "id", "--resamples", "20",
             "--json-schema", f"{W}/schema.json", "--metrics", "exact_match,json_schema", "--json", f"{OUT}/eval.json"],
    "compare": [f"{W}/results", f"{W}/results2", "--resamples", "20", "--json", f"{OUT}/cmp.json"],
    "hard-examples": [f"{W}/results", "--train-pool", f"{W}/train.jsonl", "-o", f"{OUT}/hard.jsonl", "--json", f"{OUT}/hard.json"],
    "judge": [f"{W}/results", "--judge", CLOSED, "--max-retries", "0", "--no-cache", "--rubric", f"{W}/rubric.yaml",
              "-o", f"{OUT}/judged", "--json", f"{OUT}/judge.json"],
    "label": [f"{W}/results", "--annotator", "ann", "--db", f"{OUT}/labels.sqlite", "--import", f"{W}/labels.csv",
              "--export", f"{OUT}/labels-out.csv"],
    "calibrate": ["--human", f"{W}/labels.csv", "--judge-results", f"{W}/judged", "--json", f"{OUT}/cal.json"],
    "jobs list": ["--project", "p", "--json", f"{OUT}/jobs.json"],
    "jobs get": ["123", "--project", "p", "--run-dir", f"{OUT}/job", "--json", f"{OUT}/job.json"],
    "jobs cancel": ["123", "--project", "p"],
    "jobs best": [f"{W}/run", "--json", f"{OUT}/best.json"],
}

EXTRA: dict[str, list[str]] = {
    # a second way into a command whose other mode reads other inputs
    "eval#model": ["-o", f"{OUT}/evalm", "--model", CLOSED, "--data", f"{W}/test.jsonl", "--max-retries", "0", "--timeout", "2",
                   "--no-cache", "--json", f"{OUT}/evalm.json"],
    "train#config": ["--config", f"{W}/spec.yaml"],
    "calibrate#search": ["--human", f"{W}/labels.csv", "--search", f"{W}/grid.yaml", "--results", f"{W}/results"],
}

BASE_EXIT: dict[str, tuple[int, ...]] = {
    "demo": (2,), "run": (2,), "train": (2,), "inspect": (2,), "train#config": (2,), "calibrate#search": (2,),  # no such model
    "jobs list": (2,), "jobs get": (2,), "jobs cancel": (2,), "jobs best": (2,),  # no credentials, no Vertex job
    "eval#model": (0, 1, 2),  # every request fails (a closed port): part c of issue 18 makes that a non-zero exit
}
"""The exit codes of the base invocation where it is not 0 (a clear error). The base is checked, so
that a typo in BASE cannot turn every case of a command into a usage error."""

OUTPUT_PARAMS = {"output", "json_out", "json_path", "report_path", "plot", "export_path", "db"}
"""Parameters that name something a command writes (``run_dir`` too where the command writes a run)."""
WRITES_RUN_DIR = {"run", "demo", "train", "jobs get"}

NEGATIVE_OK: set[tuple[str]] = set()
"""Options (by parameter name) where -1 means something; for every other numeric option -1 must be refused."""


@dataclass
class Case:
    id: str
    command: str  # key of BASE or EXTRA
    args: list[str]
    category: str
    input_paths: list[str] = field(default_factory=list)  # templated paths that count as inputs
    unwritable: str | None = None  # templated folder below which every write fails with EACCES
    expect_refused: str | None = None  # the flag of a nonsense value: refused with a message naming it


def _command_of(key: str):
    return COMMANDS[key.split("#")[0]]


def _param_of(command, flag_or_index):
    for p in command.params:
        if p.opts and flag_or_index in p.opts:
            return p
    return None


def _annotation(param) -> type | None:
    ann = param.type_descriptor.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) is list:
        return args[0] if args else None
    return args[0] if args else ann


def _split_args(args: list[str], command) -> tuple[list[tuple[int, object]], list[tuple[int, object]]]:
    """Positions of option values (index of the value, param) and of positional arguments."""
    options, positionals = [], []
    positional_params = [p for p in command.params if p.param_type_name == "argument"]
    i, k = 0, 0
    while i < len(args):
        p = _param_of(command, args[i])
        if p is not None:
            if getattr(p, "is_flag", False):
                i += 1
                continue
            options.append((i + 1, p))
            i += 2
        else:
            if k < len(positional_params):
                positionals.append((i, positional_params[k]))
                if not positional_params[k].multiple:
                    k += 1
            i += 1
    return options, positionals


INPUT_FILE_VARIANTS = ("missing", "directory", "empty", "binary", "huge-line", "csv", "json-array", "yaml-garbage")
INPUT_DIR_VARIANTS = ("missing", "a-file", "empty-dir", "binary-files", "garbage-files")


def _cases() -> list[Case]:
    cases: list[Case] = []
    for key, args in {**BASE, **EXTRA}.items():
        command = _command_of(key)
        options, positionals = _split_args(args, command)
        valued = options + positionals
        inputs = [args[i] for i, p in valued if args[i].startswith(W) and not _is_output(key, p)]
        cases.append(Case(f"{key}|base", key, list(args), "base", inputs))
        if key == "demo":
            continue  # anything else would run the demo
        for i, p in valued:
            value = args[i]
            if not value.startswith(W):
                continue
            name = p.name
            if _is_output(key, p):
                # a read-only mount: nothing can be created in the output's folder (all outputs live under OUT)
                cases.append(Case(f"{key}|{name}|unwritable", key, list(args), "unwritable", inputs, unwritable=OUT))
                writes_dir = _is_dir_input(value) or not Path(value).suffix
                for source in inputs:
                    if _is_dir_input(source) == writes_dir:  # a file output onto each input file, a folder output onto each input folder
                        new = list(args)
                        new[i] = source
                        cases.append(Case(f"{key}|{name}|same-as-input:{Path(source).name}", key, new, "same-as-input", inputs))
                continue
            variants = INPUT_DIR_VARIANTS if _is_dir_input(value) else INPUT_FILE_VARIANTS
            for variant in variants:
                new = list(args)
                new[i] = f"{W}/bad/{variant}/{Path(value).name}"
                cases.append(Case(f"{key}|{name}|{variant}", key, new, variant, [x if x != value else new[i] for x in inputs] + [new[i]]))
        given = {p.name for _, p in valued}
        for p in command.params:  # path options the base does not use: each bad file, appended
            if p.param_type_name != "option" or p.name in given or _annotation(p) is not Path or key.split("#")[0] in WRITES_RUN_DIR and p.name == "run_dir":
                continue
            for variant in ("missing", "directory", "empty", "binary"):
                bad = f"{W}/bad/{variant}/{p.name}.dat"
                kind = "output" if _is_output(key, p) else "input"
                cases.append(Case(f"{key}|{p.name}(extra {kind})|{variant}", key, [*args, p.opts[0], bad], variant,
                                  inputs + ([bad] if kind == "input" else [])))
        numeric = [p for p in command.params if p.param_type_name == "option" and not getattr(p, "is_flag", False)
                   and _annotation(p) in (int, float)]
        for p in numeric:
            for number in ("-1", "0"):
                new = [a for a in args]
                position = next((i for i, q in options if q is p), None)
                if position is None:
                    new += [p.opts[0], number]
                else:
                    new[position] = number
                refused = p.opts[0] if number == "-1" and (p.name,) not in NEGATIVE_OK else None
                cases.append(Case(f"{key}|{p.name}={number}", key, new, "negative" if number == "-1" else "zero", inputs, expect_refused=refused))
    return cases


def _is_dir_input(value: str) -> bool:
    return value.endswith(("results", "results2", "run", "judged"))


def _is_output(key: str, param) -> bool:
    return param.name in OUTPUT_PARAMS or (param.name == "run_dir" and key.split("#")[0] in WRITES_RUN_DIR)


CASES = _cases()


def _make_bad(world: Path, variant: str, name: str, like: Path) -> None:
    """Create ``world/bad/VARIANT/NAME``, a broken stand-in for the input ``like``."""
    target = world / "bad" / variant / name
    target.parent.mkdir(parents=True, exist_ok=True)
    binary = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x80\x81garbage\n"
    if variant == "missing":
        return
    if variant == "directory" or variant == "empty-dir":
        target.mkdir()
    elif variant == "empty":
        target.write_bytes(b"")
    elif variant in ("binary", "a-file"):
        target.write_bytes(binary)
    elif variant == "huge-line":
        target.write_bytes(b'{"text": "' + b"x" * 2_000_000 + b'"}\n')  # one 2 MB line
    elif variant == "csv":
        target.write_text("prompt,completion\nhello,world\n\"unclosed,quote\n", encoding="utf-8")
    elif variant == "json-array":
        target.write_text("[1, 2, 3]\n", encoding="utf-8")
    elif variant == "yaml-garbage":
        target.write_text("key: [unclosed\n  - : : {\n\t tab\n", encoding="utf-8")
    elif variant in ("binary-files", "garbage-files"):
        shutil.copytree(like, target)
        for f in target.rglob("*"):
            if f.is_file():
                f.write_bytes(binary if variant == "binary-files" else b"{not json at all\n[1, 2\n")


def _digests(paths: list[Path]) -> dict[str, str]:
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


COUNTS = {"tried": 0, "clear": 0, "tracebacks": 0, "inputs_modified": 0, "accepted_nonsense": 0}
FAILURES: list[str] = []


@pytest.fixture(scope="module")
def world_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-world")
    _build_world(root)
    yield root
    counts = {**COUNTS, "failures": FAILURES}
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    path = tmp_path_factory.getbasetemp() / f"fuzz_counts{'-' + worker if worker else ''}.json"
    path.write_text(json.dumps(counts, indent=2), encoding="utf-8")
    print(f"\nCLI fuzz: {COUNTS['tried']} tried, {COUNTS['clear']} clear errors or results, {COUNTS['tracebacks']} tracebacks, "
          f"{COUNTS['inputs_modified']} inputs modified, {COUNTS['accepted_nonsense']} nonsense values accepted ({path})")


@pytest.fixture
def hermetic(monkeypatch, tmp_path):
    """No network, no real credentials, no user cache; what a case writes stays in tmp."""
    monkeypatch.setenv("SFTWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    monkeypatch.chdir(tmp_path)


def _deny_writes_under(monkeypatch, denied: Path) -> None:
    """Every write below ``denied`` fails with EACCES, as on a read-only mount (the tests run as root)."""
    denied = denied.resolve()

    def blocked(path) -> bool:
        try:
            p = Path(os.fspath(path)).resolve()
        except TypeError:
            return False
        return p == denied or denied in p.parents

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    real_mkstemp, real_open, real_mkdir = tempfile.mkstemp, open, Path.mkdir
    real_os_open = os.open

    def mkstemp(*args, **kwargs):
        d = kwargs.get("dir") or (args[2] if len(args) > 2 else None)
        if d is not None and blocked(d):
            refuse(d)
        return real_mkstemp(*args, **kwargs)

    def guarded_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wax+") and blocked(file):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def mkdir(self, *args, **kwargs):
        if blocked(self) and not self.exists():
            refuse(self)
        return real_mkdir(self, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and blocked(path):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr("builtins.open", guarded_open)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", os_open)


def _params():
    for case in CASES:
        yield pytest.param(case, id=case.id)


def test_every_command_is_fuzzed():
    """A new command of the app fails here until BASE says how to call it."""
    assert set(COMMANDS) == set(BASE), f"commands without a BASE row: {sorted(set(COMMANDS) - set(BASE))}; stale rows: {sorted(set(BASE) - set(COMMANDS))}"


@pytest.mark.parametrize("case", list(_params()))
def test_cli_fuzz(case: Case, world_template: Path, tmp_path: Path, hermetic, monkeypatch) -> None:
    world = tmp_path / "w"
    shutil.copytree(world_template, world)
    args = case.command.split("#")[0].split() + [a.replace(W, str(world)) for a in case.args]
    for a in case.args:
        if a.startswith(f"{W}/bad/"):
            variant, name = a.split("/")[2], a.split("/")[3]
            like = next((world / n for n in (name,) if (world / n).exists()), world / name)
            _make_bad(world, variant, name, like)
    inputs = [Path(p.replace(W, str(world))) for p in case.input_paths]
    before = _digests(inputs)
    if case.unwritable:
        _deny_writes_under(monkeypatch, Path(case.unwritable.replace(W, str(world))))
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    monkeypatch.undo()  # restore open/mkdir before reading the inputs back
    after = _digests(inputs)
    exc = result.exception
    traceback = exc is not None and not isinstance(exc, SystemExit)
    modified = sorted(p for p in before if after.get(p) != before[p])
    # refused, and for that value: an error about something else (the missing model) would hide that -1 passes
    nonsense = bool(case.expect_refused) and not traceback and (result.exit_code == 0 or case.expect_refused not in result.output)
    COUNTS["tried"] += 1
    COUNTS["tracebacks"] += traceback
    COUNTS["inputs_modified"] += bool(modified)
    COUNTS["accepted_nonsense"] += nonsense
    COUNTS["clear"] += not (traceback or modified or nonsense) and result.exit_code in (0, 1, 2)
    problems = []
    if traceback:
        problems.append(f"traceback {type(exc).__name__}: {str(exc)[:300]}")
    if result.exit_code not in (0, 1, 2):
        problems.append(f"exit code {result.exit_code}")
    if modified:
        problems.append(f"modified inputs {modified}")
    if nonsense:
        problems.append(f"the nonsense value {case.expect_refused} -1 was not refused with a message naming {case.expect_refused}")
    if case.category == "base" and result.exit_code not in BASE_EXIT.get(case.command, (0,)):
        problems.append(f"the base invocation exited {result.exit_code}, expected one of {BASE_EXIT.get(case.command, (0,))}")
    if problems:
        FAILURES.append(f"{case.id}: {'; '.join(problems)}")
    assert not problems, f"sftwise {' '.join(args)}\n" + "\n".join(problems) + f"\n--- output ---\n{result.output[-2000:]}"
