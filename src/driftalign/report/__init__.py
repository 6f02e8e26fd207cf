"""The HTML report of a finished run: `build_report(run_dir)` -> RUN_DIR/report.html (`driftalign report`)."""

from driftalign.report.build import REPORT_FILE, build_report
from driftalign.report.collect import RunDirError, collect_run

__all__ = ["REPORT_FILE", "RunDirError", "build_report", "collect_run"]
