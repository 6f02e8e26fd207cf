"""Training and evaluation texts for the report classifier, with their 14 labels.

CheXbert was first trained on the CheXpert rule labeler's labels of unlabelled reports (its "T-auto"
stage); here the labels come from driftalign's rule labeler (`labeling.label_reports`) unless the user
brings their own:

* `--data DATASET`: the texts of a dataset directory — reference reports (`studies.jsonl` findings +
  impression) and/or teacher trajectories (`trajectories.jsonl` responses) of the studies of one split —
  labelled by the rule labeler (never by the studies' `labels`: the classifier learns to read text);
* `--texts FILE.jsonl`: rows {"text": ..., "labels": {observation: 1 | 0 | -1 | null} (optional; left-out
  observations are "not mentioned"), "split": ... (optional)}; rows without labels get the rule labeler's.

Repeated texts are kept once (the first), and a held-out text that also occurs in the training texts is
dropped from the held-out set, so agreement is measured on texts the classifier never saw.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from driftalign.classifier.model import Labels, labels_to_classes
from driftalign.constants import OBSERVATIONS
from driftalign.data.dataset import load_dataset
from driftalign.data.io import read_jsonl
from driftalign.errors import DatasetError
from driftalign.labeling import label_reports

SOURCES = ("references", "trajectories")


@dataclass(frozen=True)
class LabelledText:
    text: str
    labels: Labels          # all 14 observations, 1 / 0 / -1 / None
    source: str             # "references", "trajectories" or the JSONL file's name
    given: bool = False     # labels came with the text (else: the rule labeler's)
    split: str = "train"    # a JSONL row's "split" (default train)


def _with_rule_labels(texts: list[tuple[str, str]]) -> list[LabelledText]:
    labels = label_reports([t for t, _ in texts])
    return [LabelledText(t, lab, src) for (t, src), lab in zip(texts, labels, strict=True)]


def dataset_texts(root: Path, split: str, sources: Sequence[str]) -> list[LabelledText]:
    """Reference reports and/or teacher responses of the studies of `split` (module docstring); empty texts skipped."""
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise DatasetError(f"--sources must name some of {list(SOURCES)}, got {list(sources)}")
    ds = load_dataset(root, with_trajectories="trajectories" in sources, verify_images=False)
    studies = ds.split(split)
    if not studies:
        raise DatasetError(f"{root}: no studies in split {split!r}")
    ids = {s.study_id for s in studies}
    texts: list[tuple[str, str]] = []
    if "references" in sources:
        texts += [(s.report, "references") for s in studies if s.report.strip()]
    if "trajectories" in sources:
        texts += [(t.response, "trajectories") for t in ds.trajectories if t.study_id in ids and t.response.strip()]
    if not texts:
        raise DatasetError(f"{root}: no {' or '.join(sources)} text in split {split!r}")
    return _with_rule_labels(texts)


def _row_labels(raw: object, where: str) -> Labels:
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: 'labels' must be an object {{observation: 1 | 0 | -1 | null}}")
    try:
        labels_to_classes(raw)
    except ValueError as e:
        raise DatasetError(f"{where}: {e}") from None
    return {name: raw.get(name) for name in OBSERVATIONS}


def jsonl_texts(path: Path, field: str = "text") -> list[LabelledText]:
    """Every row of a JSONL file (module docstring), with its "split" (default "train")."""
    rows: list[tuple[str, Labels | None, str]] = []
    for line, obj in read_jsonl(path):
        where = f"{path}:{line}"
        text = obj.get(field)
        if not isinstance(text, str):
            raise DatasetError(f"{where}: missing string field {field!r} (choose it with --field)")
        split = obj.get("split", "train")
        if not isinstance(split, str):
            raise DatasetError(f"{where}: 'split' must be a string")
        rows.append((text, _row_labels(obj["labels"], where) if obj.get("labels") is not None else None, split))
    if not rows:
        raise DatasetError(f"{path}: no texts")
    rule = iter(label_reports([t for t, lab, _ in rows if lab is None]))
    return [LabelledText(t, lab if lab is not None else next(rule), path.name, given=lab is not None, split=split)
            for t, lab, split in rows]


def unique(texts: Sequence[LabelledText], exclude: set[str] | None = None) -> list[LabelledText]:
    """First occurrence of each text, minus any text in `exclude`."""
    seen = set(exclude or ())
    out = []
    for t in texts:
        if t.text not in seen:
            seen.add(t.text)
            out.append(t)
    return out


def subsample(texts: list[LabelledText], limit: int | None, seed: int) -> list[LabelledText]:
    """At most `limit` texts, drawn uniformly (seeded), in their original order."""
    if limit is None or len(texts) <= limit:
        return texts
    keep = sorted(random.Random(seed).sample(range(len(texts)), limit))
    return [texts[i] for i in keep]
