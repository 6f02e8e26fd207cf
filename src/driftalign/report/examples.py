"""Fig. 1b-style examples: a few test studies, every teacher, the consensus t+ and every student side by side,
with the drift errors of each text marked where they are.

Errors come from `drift.errors.text_errors` — the detectors `driftalign drift` (teachers) and
`driftalign eval` (students) count — against the study's labels and reference report, so a mark
here is one unit of the "drift err/100" columns of the tables. Each detector names the sentence
it fired on; the sentence is found in the text and marked with the error's kind.

Which studies (deterministic, no randomness): the students' split (test when there is one),
studies every shown student has a report for and at least one teacher answered. Studies are
picked greedily: first the error kinds not shown yet (across the students' reports), then the
number of students with a drift error, then a contrast (one student errs, another does not),
then dataset order. Without students, the teachers' errors rank the studies.

t+: the row of the run's consensus file when the study is in it; otherwise (the consensus stage
covers the train split only, by default) t+ is rebuilt here from the study's trajectories with the
same model-free strategy (vote or select, `consensus.vote` / `consensus.select`); a model/hybrid
consensus is replaced by the vote, which the card says.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from driftalign.data.dataset import Dataset
from driftalign.data.schema import Study, Trajectory
from driftalign.drift.errors import ERROR_KINDS, Reference, TextErrors, reference_for, text_errors
from driftalign.report.records import ConsensusOutputs, RunContents, StudentEval

THUMBNAIL_PX = 224


@dataclass(frozen=True)
class Highlight:
    start: int
    end: int
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class Annotated:
    """One text of an example with its drift errors and where they are."""

    who: str
    role: str                  # "teacher" | "consensus" | "student"
    text: str
    errors: TextErrors
    spans: tuple[Highlight, ...]
    detail: str = ""           # a second line under the name (run name, "refused", how t+ was made)


@dataclass(frozen=True)
class Example:
    study: Study
    image_png: bytes | None
    teachers: tuple[Annotated, ...]
    consensus: Annotated | None
    students: tuple[Annotated, ...]

    @property
    def image_data_uri(self) -> str | None:
        if self.image_png is None:
            return None
        return "data:image/png;base64," + base64.b64encode(self.image_png).decode("ascii")


_HEADING = re.compile(r"[ \t]*(?:#{1,6}[^\n]*|\*\*[^*\n]{1,60}\*\*:?|[A-Za-z][A-Za-z ]{0,40}:)[ \t]*\n\s*")


def _heading_prefix(sentence: str) -> int:
    """Length of the section-heading lines ("### Image analysis:", "**Impression:**") that the labeler's
    sentence splitter glued to the front of a sentence: they are not part of the error, so not marked."""
    end = 0
    while (m := _HEADING.match(sentence, end)) and m.end() < len(sentence):
        end = m.end()
    return end


def error_spans(text: str, errors: TextErrors) -> tuple[Highlight, ...]:
    """Character spans of the sentences the detectors flagged, each with its error kinds; overlaps merged."""
    found: list[tuple[int, int, str]] = []
    for kind in ERROR_KINDS:
        for sentence in errors.sentences.get(kind, ()):
            sentence = sentence.strip()
            start = text.find(sentence) if sentence else -1
            if start >= 0:
                found.append((start + _heading_prefix(sentence), start + len(sentence), kind))
    found.sort()
    merged: list[list] = []
    for start, end, kind in found:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            if kind not in merged[-1][2]:
                merged[-1][2].append(kind)
        else:
            merged.append([start, end, [kind]])
    return tuple(Highlight(s, e, tuple(k)) for s, e, k in merged)


def annotate(who: str, role: str, text: str, ref: Reference, detail: str = "") -> Annotated:
    errors = text_errors(text, ref)
    return Annotated(who, role, text, errors, error_spans(text, errors), detail)


def _kinds(errors: TextErrors) -> set[str]:
    return {k for k, c in errors.counts.items() if c}


def choose_studies(candidates: Sequence[str], errors: dict[str, list[TextErrors]], n: int) -> list[str]:
    """Greedy pick of `n` study ids (module docstring); errors[study_id] = the ranked texts' errors."""
    chosen: list[str] = []
    covered: set[str] = set()
    for _ in range(min(n, len(candidates))):
        best, best_key = None, None
        for i, sid in enumerate(candidates):
            if sid in chosen:
                continue
            errs = errors[sid]
            kinds = set().union(*(_kinds(e) for e in errs)) if errs else set()
            with_errors = sum(1 for e in errs if e.total)
            contrast = int(0 < with_errors < len(errs))
            key = (len(kinds - covered), with_errors, contrast, -i)
            if best_key is None or key > best_key:
                best, best_key = sid, key
        if best is None:
            break
        chosen.append(best)
        errs = errors[best]
        covered |= set().union(*(_kinds(e) for e in errs)) if errs else set()
    return chosen


def thumbnail_png(path: Path, size: int = THUMBNAIL_PX) -> bytes | None:
    """The study's first image as a PNG of at most `size` px (small images scaled up without smoothing)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L") if im.mode in ("L", "I", "I;16", "F", "1", "LA") else im.convert("RGB")
            scale = size / max(im.size)
            resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
            new_size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
            if scale >= 1:   # integer factor: every source pixel the same size
                factor = max(1, int(scale))
                new_size = (im.width * factor, im.height * factor)
            im = im.resize(new_size, resample)
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=True)
            return buf.getvalue()
    except Exception:  # noqa: BLE001 — PIL raises many types; a missing or unreadable image only loses the thumbnail
        return None


def _consensus_rows(cons: ConsensusOutputs, wanted: set[str]) -> dict[str, str]:
    rows: dict[str, str] = {}
    try:
        with cons.path.open(encoding="utf-8") as f:
            for line in f:
                if not wanted - rows.keys():
                    break
                # cheap pre-filter: parse only the lines of the wanted studies
                if not any(f'"{sid}"' in line[:200] for sid in wanted - rows.keys()):
                    continue
                obj = json.loads(line)
                if obj.get("study_id") in wanted and isinstance(obj.get("chosen"), str):
                    rows[obj["study_id"]] = obj["chosen"]
    except (OSError, ValueError):
        return rows
    return rows


def rebuild_consensus(trajs: Sequence[Trajectory], strategy: str, uncertain: str | None = None) -> tuple[str, str] | None:
    """(t+, how it was made) from one study's trajectories with a model-free strategy; None: no answer."""
    from driftalign.labeling.claims import extract_claims
    from driftalign.consensus.select import select
    from driftalign.consensus.vote import VOTE_UNCERTAIN, vote

    claims = {t.teacher: extract_claims(t.response) for t in trajs if t.response.strip() and not t.meta.get("refusal")}
    voted = vote(claims, uncertain or VOTE_UNCERTAIN)
    if voted is None:
        return None
    if strategy == "select":
        teacher = select(claims, voted)
        return next(t.response for t in trajs if t.teacher == teacher), f"select t+ ({teacher}), rebuilt for this report"
    how = "vote t+, rebuilt for this report" if strategy == "vote" else \
        f"vote t+ (the run's t+ is '{strategy}', which needs the model: not rebuilt)"
    return voted.text, how


def pick_consensus(contents: RunContents) -> ConsensusOutputs | None:
    """The consensus file next to the examples' dataset, the vote first (the paper's APO in the demo)."""
    home = contents.dataset.parent.resolve() if contents.dataset else contents.run_dir.resolve()

    def rank(c: ConsensusOutputs) -> tuple[bool, bool, str]:
        return (not c.path.resolve().is_relative_to(home), c.strategy != "vote", str(c.path))

    return min(contents.consensus, key=rank) if contents.consensus else None


def _read_preds(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                if isinstance(obj.get("study_id"), str) and isinstance(obj.get("text"), str):
                    out.setdefault(obj["study_id"], obj["text"])   # first sample when K > 1
    return out


def example_students(contents: RunContents) -> list[StudentEval]:
    """Students with predictions on the examples' dataset, in one split (test first)."""
    primary = contents.dataset.resolve() if contents.dataset else None
    for students in contents.students_by_split().values():
        usable = [s for s in students if s.preds is not None
                  and (s.dataset is None or primary is None or s.dataset.resolve() == primary)]
        if usable:
            return usable
    return []


def build_examples(contents: RunContents, ds: Dataset, n: int = 4) -> tuple[list[Example], list[str]]:
    """Up to `n` examples (module docstring) and notes on what was left out."""
    notes: list[str] = []
    students = example_students(contents)
    by_study = ds.trajectories_by_study()
    preds: dict[str, dict[str, str]] = {}
    for s in students:
        try:
            preds[s.name] = _read_preds(s.preds)
        except (OSError, ValueError) as e:
            notes.append(f"{s.preds}: unreadable ({e}); {s.name} left out of the examples")
    students = [s for s in students if s.name in preds]
    split = students[0].split if students else (contents.drift.report.get("split") if contents.drift else "test")
    pool = ds.split(split if split != "all" else None) or ds.studies
    candidates = [st for st in pool if st.study_id in by_study and all(st.study_id in preds[s.name] for s in students)]
    if not candidates:
        notes.append(f"no {split} study has teacher trajectories{' and every student report' if students else ''}; "
                     "no examples")
        return [], notes
    refs = {st.study_id: reference_for(st) for st in candidates}
    if students:
        ranked = {st.study_id: [text_errors(preds[s.name][st.study_id], refs[st.study_id]) for s in students]
                  for st in candidates}
    else:
        ranked = {st.study_id: [text_errors(t.response, refs[st.study_id]) for t in by_study[st.study_id]]
                  for st in candidates}
    chosen = choose_studies([st.study_id for st in candidates], ranked, n)

    cons = pick_consensus(contents)
    stored = _consensus_rows(cons, set(chosen)) if cons else {}
    strategy = cons.strategy if cons else "vote"
    examples = []
    for sid in chosen:
        study, ref = ds.study(sid), refs[sid]
        trajs = sorted(by_study[sid], key=lambda t: t.teacher)
        teachers = tuple(annotate(t.teacher, "teacher", t.response, ref,
                                  "refused" if t.meta.get("refusal") else "") for t in trajs)
        consensus = None
        if sid in stored:
            consensus = annotate("consensus t+", "consensus", stored[sid], ref,
                                 f"{strategy} t+, from {cons.path.name}")
        else:
            rebuilt = rebuild_consensus(trajs, strategy, cons.summary.get("uncertain") if cons else None)
            if rebuilt is not None:
                consensus = annotate("consensus t+", "consensus", rebuilt[0], ref, rebuilt[1])
        shown = tuple(annotate(s.label, "student", preds[s.name][sid], ref, s.name) for s in students)
        image = ds.image_paths(study)[0] if study.images else None
        examples.append(Example(study, thumbnail_png(image) if image else None, teachers, consensus, shown))
    return examples, notes
