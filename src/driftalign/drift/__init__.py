"""Teacher-drift measurement (APO §2): per-teacher drift vs the reference, agreement between
teachers, and step-wise multi-stream drift along the reasoning (Definition 2.2)."""

from driftalign.drift.measure import measure_drift
from driftalign.drift.report import DriftReport

__all__ = ["DriftReport", "measure_drift"]
