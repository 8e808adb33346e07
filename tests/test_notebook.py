"""examples/quickstart.ipynb runs top to bottom, so the notebook cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"

pytest.importorskip("torch")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _cell(nb, call: str):  # noqa: ANN001, ANN202 - nbformat nodes
    """The first code cell that makes this API call."""
    return next(cell for cell in nb.cells if cell.cell_type == "code" and f"{call}(" in cell.source)


def _text(cell) -> str:  # noqa: ANN001 - a nbformat cell
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def test_the_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quickstart_runs_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTWISE_CACHE_DIR", str(tmp_path / "cache"))  # never the user's response cache
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors, errors
    assert "{'error': 0" in _text(_cell(nb, "sftwise.audit")), "the audit of the sample finds no error"
    assert "json_valid: 0.000 -> " in _text(_cell(nb, "sftwise.compare")), "the compare cell prints the baseline -> tuned deltas"
    shown = _cell(nb, "sftwise.diagnose").outputs
    assert any(out.get("output_type") == "display_data" and "image/png" in out.get("data", {}) for out in shown), "the curves are shown"
    assert not list(tmp_path.glob("runs")), "the notebook writes into its own temporary directory"
