"""Compare this labeler with another one (CheXpert labeler, CheXbert, a human) on the user's corpus.

`driftalign label REPORTS.jsonl --compare OTHER` reads OTHER's labels, matches them to the reports
and prints per-observation agreement, Cohen's kappa and the sentences behind each disagreement, so
a user can see where (and why) the two labelers part ways on their own reports.

OTHER is either
* a CSV as the CheXpert labeler writes it (`Reports` + the 14 observation columns, values 1.0 /
  0.0 / -1.0 / blank) or CheXbert (`Report Impression` + the 14 columns): matched to the reports by
  row order — unless it has a `study_id` column, then by study id; or
* a JSONL of rows `{"study_id": ..., "labels": {observation: 1 | 0 | -1 | null}}` (observations
  left out are "not mentioned"): matched by study id.
Malformed input fails with `DatasetError` naming the file and line.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from driftalign.constants import OBSERVATIONS
from driftalign.data.io import json_error
from driftalign.errors import DatasetError

Labels = dict[str, int | None]
_CLASSES: tuple[int | None, ...] = (1, 0, -1, None)
_TEXT_COLUMNS = ("Reports", "Report Impression", "report", "text")


@dataclass(frozen=True)
class OtherLabels:
    """The other labeler's rows: labels, with study ids (None when matched by row order)."""

    path: Path
    labels: list[Labels]
    study_ids: list[str] | None
    lines: list[int]          # line of each row in `path`, for messages


def _value(raw: object, where: str, name: str) -> int | None:
    """1 / 0 / -1 / None from a CSV cell or JSON value ("1.0", "", "nan", null, 1 ...)."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise DatasetError(f"{where}: {name!r} must be 1, 0, -1 or empty, got {raw!r}")
    if isinstance(raw, str):
        text = raw.strip()
        if text == "" or text.lower() in ("nan", "none", "null"):
            return None
        try:
            raw = float(text)
        except ValueError:
            raise DatasetError(f"{where}: {name!r} must be 1, 0, -1 or empty, got {raw!r}") from None
    if isinstance(raw, (int, float)):
        if isinstance(raw, float) and math.isnan(raw):
            return None
        if raw in (1, 0, -1):
            return int(raw)
    raise DatasetError(f"{where}: {name!r} must be 1, 0, -1 or empty, got {raw!r}")


def _read_csv(path: Path) -> OtherLabels:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [name for name in OBSERVATIONS if name not in header]
        if missing:
            raise DatasetError(f"{path}:1: CSV header lacks observation column(s) {missing}; expected the 14 CheXpert "
                               f"columns (and 'Reports' or 'study_id'), got {header}")
        by_id = "study_id" in header
        labels, ids, lines = [], [], []
        for row in reader:
            line = reader.line_num   # physical line where the record ends (reports may span lines)
            if None in row:
                raise DatasetError(f"{path}:{line}: more cells than header columns")
            where = f"{path}:{line}"
            labels.append({name: _value(row[name], where, name) for name in OBSERVATIONS})
            if by_id:
                if not (row["study_id"] or "").strip():
                    raise DatasetError(f"{where}: empty study_id")
                ids.append(row["study_id"].strip())
            lines.append(line)
    return OtherLabels(path, labels, ids if by_id else None, lines)


def _read_jsonl(path: Path) -> OtherLabels:
    labels, ids, lines = [], [], []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{where}: not valid JSON ({json_error(e)})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("study_id"), str) or not obj["study_id"]:
                raise DatasetError(f"{where}: each row needs a non-empty string 'study_id'")
            row_labels = obj.get("labels")
            if not isinstance(row_labels, dict):
                raise DatasetError(f"{where}: 'labels' must be an object {{observation: 1 | 0 | -1 | null}}")
            unknown = sorted(set(row_labels) - set(OBSERVATIONS))
            if unknown:
                raise DatasetError(f"{where}: unknown observation(s) {unknown}; expected names from {list(OBSERVATIONS)}")
            labels.append({name: _value(row_labels.get(name), where, name) for name in OBSERVATIONS})
            ids.append(obj["study_id"])
            lines.append(lineno)
    return OtherLabels(path, labels, ids, lines)


def read_other_labels(path: str | Path) -> OtherLabels:
    """Read another labeler's output (CSV or JSONL, by extension; see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    other = _read_csv(path) if path.suffix.lower() == ".csv" else _read_jsonl(path)
    if other.study_ids is not None:
        seen: dict[str, int] = {}
        for sid, line in zip(other.study_ids, other.lines):
            if sid in seen:
                raise DatasetError(f"{path}:{line}: duplicate study_id {sid!r} (first at line {seen[sid]})")
            seen[sid] = line
    return other


def match_rows(ours_ids: Sequence[str | None], other: OtherLabels, ours_path: str | Path) -> list[Labels]:
    """OTHER's labels in the order of our rows: by study id, or by row order for id-less CSVs."""
    if other.study_ids is None:
        if len(other.labels) != len(ours_ids):
            raise DatasetError(f"{other.path}: {len(other.labels)} rows but {ours_path} has {len(ours_ids)} reports; "
                               "a CSV without a study_id column is matched by row order, so the counts must agree")
        return list(other.labels)
    by_id = dict(zip(other.study_ids, other.labels))
    out = []
    for i, sid in enumerate(ours_ids, start=1):
        if sid is None:
            raise DatasetError(f"{ours_path}: report {i} has no 'study_id' to match against {other.path}")
        if sid not in by_id:
            raise DatasetError(f"{other.path}: no row for study_id {sid!r} (from {ours_path})")
        out.append(by_id[sid])
    return out


def cohen_kappa(a: Sequence[int | None], b: Sequence[int | None]) -> float | None:
    """Cohen's kappa over the four classes (1, 0, -1, not mentioned); None when undefined
    (chance agreement 1: both labelers used a single identical class throughout)."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    expected = sum((list(a).count(c) / n) * (list(b).count(c) / n) for c in _CLASSES)
    return None if expected >= 1.0 else (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class Disagreement:
    row: int                  # 0-based index of the report
    study_id: str | None
    observation: str
    ours: int | None
    theirs: int | None
    sentences: tuple[str, ...]   # our sentences mentioning the observation ("" when we found none)


@dataclass
class Comparison:
    n: int
    agreement: dict[str, float] = field(default_factory=dict)
    kappa: dict[str, float | None] = field(default_factory=dict)
    disagreements: list[Disagreement] = field(default_factory=list)


def compare_labels(texts: Sequence[str], ours: Sequence[Labels], theirs: Sequence[Labels],
                   study_ids: Sequence[str | None] | None = None) -> Comparison:
    """Per-observation agreement and kappa of two label sets over the same reports, and every
    (report, observation) where they differ with our sentences about it."""
    from driftalign.labeling.mentions import extract_mentions

    if not (len(texts) == len(ours) == len(theirs)):
        raise ValueError(f"{len(texts)} texts, {len(ours)} and {len(theirs)} label rows")
    ids = list(study_ids) if study_ids is not None else [None] * len(texts)
    result = Comparison(n=len(texts))
    for name in OBSERVATIONS:
        a = [row.get(name) for row in ours]
        b = [row.get(name) for row in theirs]
        result.agreement[name] = sum(x == y for x, y in zip(a, b)) / len(a) if a else float("nan")
        result.kappa[name] = cohen_kappa(a, b)
    for i, (text, row_ours, row_theirs) in enumerate(zip(texts, ours, theirs)):
        differing = [name for name in OBSERVATIONS if row_ours.get(name) != row_theirs.get(name)]
        if not differing:
            continue
        mentions = extract_mentions(text)
        for name in differing:
            sentences = tuple(dict.fromkeys(m.sentence for m in mentions if m.observation == name))
            result.disagreements.append(Disagreement(i, ids[i], name, row_ours.get(name), row_theirs.get(name), sentences))
    return result
