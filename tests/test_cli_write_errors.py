"""Outputs the system refuses to write end in one clear line and exit 2, never an ``OSError`` traceback.

The tests run as root, for whom a chmod'ed folder is writable, so a read-only mount, a folder without
write permission and a full disk are simulated where the kernel reports them: creating a file or a
folder under the refused folder fails with the real errno (``EROFS``, ``EACCES``), and on a full disk
the data write fails with ``ENOSPC``, as ``write(2)`` does. Where ``mount`` works (root with the
capability), a real 200 KB tmpfs checks the full disk and a real read-only mount as well.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sftwise.cli import app
from sftwise.demo.sample import sample_paths

runner = CliRunner()
CURVES = Path(__file__).parent / "training" / "fixtures" / "curves" / "tiny-healthy-1.jsonl"


def _under(path: object, root: Path) -> bool:
    try:
        return Path(os.fsdecode(path)).resolve().is_relative_to(root)
    except (TypeError, ValueError):
        return False


@pytest.fixture()
def refuse_writes(monkeypatch):
    """``refuse_writes(folder, code)``: creating anything under ``folder`` fails with ``code``, as on a
    read-only mount (EROFS) or a folder without write permission (EACCES); reading still works."""

    def install(root: Path, code: int) -> None:
        root = root.resolve()
        real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir
        real_replace, real_rename, real_unlink = os.replace, os.rename, os.unlink

        def fail(path: object) -> None:
            raise OSError(code, os.strerror(code), os.fsdecode(path))

        def os_open(path, flags, *a, **k):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and _under(path, root):
                fail(path)
            return real_os_open(path, flags, *a, **k)

        def py_open(file, mode="r", *a, **k):
            if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") and _under(file, root):
                fail(file)
            return real_open(file, mode, *a, **k)

        def mkdir(path, *a, **k):
            if _under(path, root):
                if os.path.lexists(path):
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(path))
                fail(path)
            return real_mkdir(path, *a, **k)

        def two(real):
            def wrapped(src, dst, *a, **k):
                if _under(dst, root) or _under(src, root):
                    fail(dst)
                return real(src, dst, *a, **k)
            return wrapped

        def unlink(path, *a, **k):
            if _under(path, root):
                fail(path)
            return real_unlink(path, *a, **k)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", py_open)
        monkeypatch.setattr(io, "open", py_open)
        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "replace", two(real_replace))
        monkeypatch.setattr(os, "rename", two(real_rename))
        monkeypatch.setattr(os, "unlink", unlink)

    return install


@pytest.fixture()
def full_disk(monkeypatch):
    """``full_disk(folder)``: files under ``folder`` open, but writing their data fails with ENOSPC
    (what ``write(2)`` returns on a full disk; the buffered file raises it on flush)."""

    def install(root: Path) -> None:
        root = root.resolve()
        real_fdopen, real_open = os.fdopen, builtins.open

        class Full(io.RawIOBase):
            def __init__(self, handle) -> None:
                self.handle = handle  # kept open: fileno, fchmod and fsync work on the real file

            def writable(self) -> bool:
                return True

            def fileno(self) -> int:
                return self.handle.fileno()

            def write(self, data) -> int:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def close(self) -> None:
                super().close()
                self.handle.close()

        def wrap(handle, name: str, mode: str):
            buffered = io.BufferedWriter(Full(handle))
            return buffered if "b" in mode else io.TextIOWrapper(buffered, encoding="utf-8")

        def fdopen(fd, mode="r", *a, **k):
            handle = real_fdopen(fd, mode, *a, **k)
            name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
            return wrap(handle, name, mode) if any(c in mode for c in "wa+") and _under(name, root) else handle

        def py_open(file, mode="r", *a, **k):
            handle = real_open(file, mode, *a, **k)
            if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wa+") and _under(file, root):
                return wrap(handle, os.fsdecode(file), mode)
            return handle

        monkeypatch.setattr(os, "fdopen", fdopen)
        monkeypatch.setattr(builtins, "open", py_open)
        monkeypatch.setattr(io, "open", py_open)

    return install


def _inputs(tmp_path: Path) -> dict[str, Path]:
    paths = sample_paths()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    train = inputs / "train.jsonl"
    train.write_text("\n".join(Path(paths["train"]).read_text(encoding="utf-8").splitlines()[:60]) + "\n", encoding="utf-8")
    prod = inputs / "prod.jsonl"
    prod.write_text("\n".join(Path(paths["test"]).read_text(encoding="utf-8").splitlines()[:40]) + "\n", encoding="utf-8")
    run = inputs / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_bytes(CURVES.read_bytes())
    predictions = inputs / "predictions.jsonl"
    predictions.write_text('{"id": "1", "prediction": "a", "reference": "a"}\n{"id": "2", "prediction": "b", "reference": "c"}\n', encoding="utf-8")
    results = {}
    for name in ("res-a", "res-b"):
        done = runner.invoke(app, ["eval", "--predictions", str(predictions), "-o", str(inputs / name)])
        assert done.exit_code == 0, done.output
        results[name] = inputs / name
    return {"train": train, "prod": prod, "run": run, "predictions": predictions, **results}


COMMANDS = {
    "audit --json": lambda i, o: ["audit", i["train"], "--json", o / "audit.json"],
    "convert": lambda i, o: ["convert", i["train"], o / "out.jsonl", "--to", "messages"],
    "convert to csv": lambda i, o: ["convert", i["train"], o / "out.csv"],
    "dedup -o": lambda i, o: ["dedup", i["train"], "-o", o / "dedup.jsonl", "--method", "exact"],
    "dedup --report": lambda i, o: ["dedup", i["train"], "-o", i["train"].parent.parent / "d.jsonl", "--report", o / "dedup.json", "--method", "exact"],
    "split -o": lambda i, o: ["split", i["train"], "-o", o / "split", "--no-dedup"],
    "skew --json": lambda i, o: ["skew", i["train"], i["prod"], "--json", o / "skew.json", "--permutations", "2"],
    "diagnose --json": lambda i, o: ["diagnose", i["run"], "--json", o / "d.json", "--plot", o / "c.svg"],
    "diagnose --plot": lambda i, o: ["diagnose", i["run"], "--plot", o / "curves.png"],
    "report -o": lambda i, o: ["report", i["run"], "-o", o / "report.html"],
    "eval -o": lambda i, o: ["eval", "--predictions", i["predictions"], "-o", o / "results"],
    "eval --json": lambda i, o: ["eval", "--predictions", i["predictions"], "-o", i["train"].parent.parent / "r", "--json", o / "e.json"],
    "compare --json": lambda i, o: ["compare", i["res-a"], i["res-b"], "--json", o / "c.json"],
    "hard-examples --json": lambda i, o: ["hard-examples", i["res-a"], "--train-pool", i["train"], "--json", o / "h.json"],
    "recommend --json": lambda i, o: ["recommend", "--model", "gemini-2.5-flash", "--data", i["train"], "--json", o / "r.json"],
}


def _checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _invoke(args: list[object]):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "300"})


def _assert_clear_error(result, out: Path, *words: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), f"traceback: {result.exception!r}"
    text = " ".join(result.output.split())
    assert "error:" in text and "Traceback" not in text, text
    assert str(out) in text, text
    for word in words:
        assert word in text, text


@pytest.mark.parametrize("code, words", [(errno.EROFS, ("read-only file system",)), (errno.EACCES, ("Permission denied", "permission"))])
@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_unwritable_output_is_a_clear_error(tmp_path, refuse_writes, name, code, words):
    inputs = _inputs(tmp_path)
    out = tmp_path / "readonly"
    out.mkdir()
    before = _checksums(inputs["train"].parent)
    refuse_writes(out, code)
    result = _invoke(COMMANDS[name](inputs, out))
    _assert_clear_error(result, out, *words)
    assert _checksums(inputs["train"].parent) == before


@pytest.mark.parametrize("name", ["audit --json", "convert", "dedup -o", "skew --json", "diagnose --plot", "report -o", "eval -o", "compare --json"])
def test_a_full_disk_is_a_clear_error_and_leaves_no_temp(tmp_path, full_disk, name):
    inputs = _inputs(tmp_path)
    out = tmp_path / "full"
    out.mkdir()
    before = _checksums(inputs["train"].parent)
    full_disk(out)
    result = _invoke(COMMANDS[name](inputs, out))
    _assert_clear_error(result, out, "No space left on device (ENOSPC)", "the disk is full", "free")
    assert [p for p in out.rglob("*") if p.is_file()] == [], "a partial or temporary file was left"
    assert _checksums(inputs["train"].parent) == before


def test_an_output_under_a_file_is_a_clear_error(tmp_path):
    inputs = _inputs(tmp_path)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = _invoke(["audit", inputs["train"], "--json", blocker / "sub" / "audit.json"])
    _assert_clear_error(result, blocker, "not a directory")


def test_any_other_oserror_about_a_file_is_one_line_but_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    import sftwise.diagnose

    inputs = _inputs(tmp_path)
    metrics = inputs["run"] / "metrics.jsonl"

    def unreadable(*a, **k):  # what open(2) says for a file its owner made unreadable, met by no library check
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(metrics))

    monkeypatch.setattr(sftwise.diagnose, "diagnose_run", unreadable)
    result = _invoke(["diagnose", inputs["run"]])
    _assert_clear_error(result, metrics, "Permission denied (EACCES)")

    def bug(*a, **k):  # an OSError that names no file is a bug, not the user's to fix: its traceback stays
        raise OSError("a programming error")

    monkeypatch.setattr(sftwise.diagnose, "diagnose_run", bug)
    result = _invoke(["diagnose", inputs["run"]])
    assert result.exit_code == 1 and isinstance(result.exception, OSError)


def test_outputs_follow_the_umask_not_0600(tmp_path):
    from sftwise.io import write_text

    inputs = _inputs(tmp_path)
    old = os.umask(0o022)
    try:
        result = _invoke(COMMANDS["report -o"](inputs, tmp_path))
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
        os.umask(0o027)
        import sftwise.io as sio

        sio._UMASK = None  # read again: it is read once per process
        write_text(tmp_path / "group.txt", "x")
        assert stat.S_IMODE((tmp_path / "group.txt").stat().st_mode) == 0o640
        (tmp_path / "group.txt").chmod(0o604)
        write_text(tmp_path / "group.txt", "y")  # an existing output keeps the mode its owner gave it
        assert stat.S_IMODE((tmp_path / "group.txt").stat().st_mode) == 0o604
    finally:
        os.umask(old)
        import sftwise.io as sio

        sio._UMASK = None


def test_stale_temps_of_killed_writers_are_removed_on_the_next_write(tmp_path):
    from sftwise.io import _HOST, remove_stale_temps, write_text

    target = tmp_path / "out.jsonl"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.jsonl.{dead.pid}@{_HOST}.abcd1234.tmp"
    live = tmp_path / f".out.jsonl.{os.getppid()}@{_HOST}.efgh5678.tmp"
    elsewhere = tmp_path / f".out.jsonl.{dead.pid}@otherhost.ijkl9012.tmp"
    legacy_old = tmp_path / ".out.jsonl.mnop3456.tmp"
    legacy_new = tmp_path / ".out.jsonl.qrst7890.tmp"
    other_output = tmp_path / f".other.jsonl.{dead.pid}@{_HOST}.uvwx1234.tmp"
    for p in (stale, live, elsewhere, legacy_old, legacy_new, other_output):
        p.write_bytes(b"\0" * 1024)
    os.utime(legacy_old, (1, 1))
    write_text(target, "new\n")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["out.jsonl", live.name, elsewhere.name, legacy_new.name, other_output.name])
    assert remove_stale_temps(target) == []


def test_the_temp_of_a_writer_killed_mid_write_goes_on_the_next_write(tmp_path):
    from sftwise.io import write_text

    target = tmp_path / "big.jsonl"
    target.write_text("old\n")
    script = (
        "import os, signal, sys\n"
        "from sftwise.io import atomic_write\n"
        "writer = atomic_write(sys.argv[1], 'wb')\nhandle = writer.__enter__()\n"
        "handle.write(b'x' * 2_000_000); handle.flush()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script, str(target)], env=env, capture_output=True, timeout=60)
    assert done.returncode == -9, done.stderr
    [left] = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert left.stat().st_size == 2_000_000 and target.read_text() == "old\n"  # the kill left the old file and a big temp
    write_text(target, "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl"] and target.read_text() == "new\n"


def _mount(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@pytest.fixture()
def small_tmpfs(tmp_path):
    """A real 200 KB tmpfs (skipped where mount is not allowed); unmounted afterwards."""
    mounted: list[Path] = []

    def make(name: str, options: str) -> Path:
        target = tmp_path / name
        if not _mount(target, options):
            pytest.skip("mount -t tmpfs is not allowed here")
        mounted.append(target)
        return target

    yield make
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=10)


def test_real_full_and_read_only_disks(tmp_path, small_tmpfs):
    inputs = _inputs(tmp_path)
    big = tmp_path / "big.jsonl"
    line = inputs["train"].read_text(encoding="utf-8").splitlines()[0]
    big.write_text((line + "\n") * 600, encoding="utf-8")  # ~300 KB: more than the disk holds
    full = small_tmpfs("full", "size=200k")
    result = _invoke(["convert", big, full / "out.jsonl", "--to", "messages"])
    _assert_clear_error(result, full, "No space left on device (ENOSPC)", "free")
    assert list(full.iterdir()) == []
    readonly = small_tmpfs("ro", "size=200k,ro")
    result = _invoke(["audit", inputs["train"], "--json", readonly / "audit.json"])
    _assert_clear_error(result, readonly, "Read-only file system (EROFS)")


def test_a_response_cache_on_a_full_disk_warns_once_and_the_run_goes_on(tmp_path):
    from sftwise.backends.base import GenerationResult
    from sftwise.backends.cache import ResponseCache

    cache = ResponseCache(tmp_path / "cache.sqlite")
    pages = cache._conn.execute("PRAGMA page_count").fetchone()[0]
    cache._conn.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own SQLITE_FULL: what a full disk gives
    big = GenerationResult(id="1", text="x" * 200_000)
    with pytest.warns(UserWarning, match=r"response cache .*cache.sqlite: cannot store responses \(database or disk is full\); going on"):
        cache.put_many([("k1", "m", big)])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.put_many([("k2", "m", big)])  # no second warning, no error
    assert cache.get("k1") is None and len(cache) == 0
