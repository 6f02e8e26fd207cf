"""`build_report(run_dir)`: one self-contained HTML file describing a finished run (`driftalign report`).

    collect.py    what the run directory holds -> typed records (records.py: RunContents)
    examples.py   a few test studies side by side, drift errors marked (the APO paper's Fig. 1b)
    figures.py    the training curves, what APO learns while it trains (the drift figures are the PNGs
                  `driftalign drift` wrote)
    sections.py   the sections as data: tables in the paper's layouts, of typed rows and cells (tables.py)
    html.py       the page: figures (inline base64 PNGs), examples, headline, drawn by one autoescaped
                  Jinja2 template with the page's markup and CSS (resources/report/report.html.j2), no script

Anything the run lacks is skipped with a short note; a directory with no stage output at all is a
`RunDirError`. The file is written atomically (`data.io.atomic_write`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from driftalign.data.io import atomic_write
from driftalign.errors import DriftalignError
from driftalign.report.collect import RunContents, collect_run
from driftalign.report.examples import Example, build_examples
from driftalign.report.html import render

REPORT_FILE = "report.html"
DEFAULT_EXAMPLES = 4
log = logging.getLogger(__name__)


def _examples(contents: RunContents, n: int) -> tuple[list[Example], list[str]]:
    if n <= 0:
        return [], ["examples turned off (--examples 0)"]
    if contents.dataset is None:
        return [], ["no dataset directory (studies.jsonl) found in the run or its configs"]
    from driftalign.data.dataset import load_dataset

    try:
        ds = load_dataset(contents.dataset, verify_images=False)
    except DriftalignError as e:   # a broken dataset costs the examples, not the report
        return [], [f"dataset not readable: {e}"]
    if not ds.trajectories:
        return [], [f"{contents.dataset} has no trajectories.jsonl"]
    return build_examples(contents, ds, n)


def _figure(contents: RunContents, name: str, what: str) -> bytes | None:
    """`report.figures.<name>(training logs, synthetic)`; a plotting failure becomes a note, never a lost report."""
    if not contents.training:
        return None
    from driftalign.report import figures

    try:
        return getattr(figures, name)(contents.training, contents.synthetic)
    except Exception as e:  # noqa: BLE001 — a plotting failure must not cost the report
        contents.notes.append(f"{what} not drawn ({type(e).__name__}: {e})")
        return None


def build_report(run_dir: Path, out: Path | None = None, *, examples: int = DEFAULT_EXAMPLES) -> Path:
    """Write the HTML report of `run_dir` to `out` (default RUN_DIR/report.html); returns its path."""
    run_dir = Path(run_dir)
    contents = collect_run(run_dir)
    shown, notes = _examples(contents, examples)
    page = render(contents, shown, notes, _figure(contents, "training_curves", "training curves"),
                  apo=_figure(contents, "apo_dynamics", "APO training dynamics"))
    path = Path(out) if out is not None else run_dir / REPORT_FILE
    with atomic_write(path) as f:
        f.write(page)
    return path
