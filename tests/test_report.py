"""`driftalign report RUN_DIR`: one self-contained HTML file, checked as HTML and rendered in headless Chromium.

The run directory is built with the stages' own functions on the session's synthetic world (80
studies, seven simulated teachers): `run_drift`, `run_consensus`, `run_eval`, the stage configs'
`save_config`, `paired_bootstrap` for the verdict. Only what needs a trained model is stood in
for: the "students'" reports are teachers' trajectories (so they carry drift errors) and the
reference reports (the oracle); the DDSampling summary, the GRPO data file, the trainer logs and
the benchmark rows are written with the keys those stages write.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.dataset import load_dataset
from driftalign.data.io import write_json, write_jsonl
from driftalign.drift.errors import reference_for, text_errors
from driftalign.report import REPORT_FILE, RunDirError, build_report, collect_run
from driftalign.report.collect import summary_verdicts
from driftalign.report.examples import _heading_prefix, choose_studies, error_spans

STUDENT_TEACHER = {"spd": "sim-gpt-5", "apo-uniform": "sim-moonshot", "rl": "sim-glm-4.5v"}
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if shutil.which(n)), None)


# ---- the run directory ------------------------------------------------------------------------------


def _student_texts(world: Path) -> dict[str, dict[str, str]]:
    ds = load_dataset(world, verify_images=False)
    by_study = ds.trajectories_by_study()
    texts: dict[str, dict[str, str]] = {name: {} for name in [*STUDENT_TEACHER, "oracle"]}
    for st in ds.split("test"):
        answers = {t.teacher: t.response for t in by_study.get(st.study_id, []) if not t.meta.get("refusal")}
        for name, teacher in STUDENT_TEACHER.items():
            texts[name][st.study_id] = answers.get(teacher) or st.report
        texts["oracle"][st.study_id] = st.report
    return texts


def _save_configs(run: Path, world: Path) -> None:
    from driftalign.config import save_config
    from driftalign.training.apo import APOConfig
    from driftalign.training.grpo import DiTPOConfig
    from driftalign.training.spd import SPDConfig

    save_config(SPDConfig(model=run / "student", data=world, out=run / "spd"), run / "spd")
    save_config(SPDConfig(model=run / "student", data=world, out=run / "oracle", targets="reference"), run / "oracle")
    save_config(APOConfig(model=run / "spd", data=world, out=run / "apo-uniform",
                          consensus=run / "consensus" / "vote.jsonl"), run / "apo-uniform")
    save_config(DiTPOConfig(model=run / "spd", data=world, out=run / "rl", switch_step=2,
                            subset=run / "ddsample" / "subset.jsonl"), run / "rl")


def _verdict(world: Path, run: Path, name: str, baseline: str) -> dict:
    from driftalign.metrics.bootstrap import paired_bootstrap, study_outcomes

    studies = load_dataset(world, verify_images=False).split("test")

    def outcomes(n: str):
        texts = {json.loads(line)["study_id"]: json.loads(line)["text"]
                 for line in (run / "preds" / f"{n}.jsonl").read_text().splitlines()}
        return study_outcomes([texts[s.study_id] for s in studies], studies)

    ci = paired_bootstrap([(outcomes(name), outcomes(baseline))], n_boot=200, seed=0)
    better = ci["avg_accuracy"]["lo"] > 0 or ci["drift_errors_per_100"]["hi"] < 0
    worse = ci["avg_accuracy"]["hi"] < 0 or ci["drift_errors_per_100"]["lo"] > 0
    return {"run": name, "baseline": baseline, "beat_baseline": bool(better and not worse), **ci}


def _stand_ins(run: Path) -> None:
    """Outputs of stages that need a trained model, in the formats those stages write."""
    from driftalign.rl.ddsample import DDSampleSummary

    spd_log = [{"step": s, "loss": 3.0 / s, "grad_norm": 1.0, "learning_rate": 1e-3, "epoch": s / 40} for s in (1, 10, 20, 30, 40)]
    write_jsonl(run / "spd" / "trainer_log.jsonl", [*spd_log, {"step": 40, "train_runtime": 9.0, "train_loss": 0.4}])
    apo_log = [{"step": s, "loss": 1.2 - 0.01 * s, "rewards/margins": 0.1 * s, "epoch": s / 20} for s in (5, 10, 15, 20)]
    write_jsonl(run / "apo-uniform" / "trainer_log.jsonl", apo_log)
    summary = DDSampleSummary(studies=56, subset=11, generated=56, mean_d_all=0.41, mean_d_subset=0.63,
                              synthetic=True, out=run / "ddsample")
    write_json(run / "ddsample" / "summary.json", {**{k: v for k, v in asdict(summary).items() if k != "out"},
                                                   "k": 10, "seed": 0, "uncertain": "positive", "split": "train"})
    write_json(run / "rl" / "grpo_data.json", {"model": str(run / "spd" / "final"), "studies": 11,
                                               "skipped_without_reference": [], "subset": str(run / "ddsample" / "subset.jsonl"),
                                               "trainable_parameters": 1_032_448, "parameters": 1_212_672})
    write_jsonl(run / "rl" / "trainer_log.jsonl", [
        {"step": s, "loss": 0.02 * s, "reward": 0.3 + 0.05 * s, "reward_std": 0.1, "reward/f1": 0.3 + 0.05 * s,
         "reward/bleu2": 0.1, "reward/gamma": 0.0 if s < 2 else 0.25, "completions/mean_length": 60.0}
        for s in (1, 2, 3, 4)])
    write_json(run / "bench_apo_vs_trl.json", [
        {"preset": "tiny", "system": system, "N": 7, "image_tokens": 4, "seconds": 8 / sps, "setup_s": setup,
         "studies_per_s": sps, "peak_rss_mb": rss, "vision_images_per_study": vis, "token_positions_per_study": tok}
        for system, sps, setup, rss, vis, tok in (("trl", 2.3, 4.1, 1900.0, 28.0, 3100.0),
                                                  ("flat", 7.6, 1.2, 1500.0, 2.0, 900.0),
                                                  ("default", 9.4, 1.1, 1450.0, 2.0, 420.0))])


@pytest.fixture(scope="module")
def run_dir(synth_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from driftalign.cli.eval_commands import EvalConfig, run_eval
    from driftalign.consensus.run import ConsensusConfig, run_consensus
    from driftalign.drift.run import DriftConfig, run_drift

    run = tmp_path_factory.mktemp("report") / "run"
    world = run / "world"
    shutil.copytree(synth_world, world)
    for name, texts in _student_texts(world).items():
        write_jsonl(run / "preds" / f"{name}.jsonl", ({"study_id": k, "text": v} for k, v in texts.items()))
        run_eval(EvalConfig(pred=run / "preds" / f"{name}.jsonl", data=world, split="test",
                            json=run / "eval" / f"{name}.json", meteor=False))
    _save_configs(run, world)
    run_consensus(ConsensusConfig(data=world, out=run / "consensus" / "vote.jsonl", strategy="vote"))
    run_drift(DriftConfig(data=world, out=run / "drift", split="test"))
    write_json(run / "summary.json", {"synthetic": True, "split": "test", "students": {},
                                      "verdicts": [_verdict(world, run, "apo-uniform", "spd")],
                                      "timings_s": {"world": 1.0, "drift": 8.0}})
    _stand_ins(run)
    with (run / "pipeline.yaml").open("w") as f:      # the run's own config, nested sections as `driftalign run` saves
        yaml.safe_dump({"out": str(run), "world": {"studies": 80, "seed": 0}, "spd": {"max_steps": 40}}, f)
    return run


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Path:
    return build_report(run_dir)


class _Page(HTMLParser):
    """Tags, attributes, captions and the texts of <mark> elements of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.captions: list[str] = []
        self.marks: list[str] = []
        self.headings: list[str] = []
        self._open: list[str] = []
        self._text: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("caption", "mark", "h3", "h4"):
            self._open.append(tag)
            self._text[tag] = []

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()
            text = "".join(self._text.pop(tag))
            {"caption": self.captions, "mark": self.marks}.get(tag, self.headings).append(text)

    def handle_data(self, data):
        for tag in self._open:
            self._text[tag].append(data)


def _parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return text, page


class _Tables(HTMLParser):
    """Every <table> of a page: its caption, header rows and body rows; a cell's text apart from its grey
    "± std" tail and its run-name line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self._part = "tbody"
        self._row: list[dict] = []
        self._cell: dict | None = None
        self._spans: list[str] = []
        self._caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"caption": "", "head": [], "rows": []})
        elif tag == "caption":
            self._caption = True
        elif tag in ("thead", "tbody"):
            self._part = tag
        elif tag == "tr":
            self._row = []
            self.tables[-1]["head" if self._part == "thead" else "rows"].append(self._row)
        elif tag in ("td", "th"):
            self._cell = {"text": "", "std": "", "sub": "", "class": attrs.get("class", "")}
            self._row.append(self._cell)
        elif tag == "span" and self._cell is not None:
            self._spans.append(attrs.get("class", ""))

    def handle_endtag(self, tag):
        if tag == "caption":
            self._caption = False
        elif tag in ("td", "th"):
            self._cell = None
        elif tag == "span" and self._cell is not None and self._spans:
            self._spans.pop()

    def handle_data(self, data):
        if self._caption:
            self.tables[-1]["caption"] += data
        elif self._cell is not None:
            self._cell[{"std": "std", "runname": "sub"}.get(self._spans[-1] if self._spans else "", "text")] += data


def _table(path: Path, caption: str) -> dict:
    """The one table of the page whose caption says `caption`."""
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    (found,) = [t for t in parser.tables if caption in t["caption"]]
    return found


def _shown(v: float | None, digits: int = 3) -> str:
    """A number as the tables show it."""
    return "–" if v is None else f"{v:.{digits}f}"


# ---- the HTML ---------------------------------------------------------------------------------------------


def test_report_is_one_self_contained_file(report: Path, run_dir: Path) -> None:
    assert report == run_dir / REPORT_FILE and report.is_file()
    assert not list(run_dir.glob(f".{REPORT_FILE}.*"))          # the atomic write left no temp file
    text, page = _parse(report)
    assert text.startswith("<!DOCTYPE html>") and "<style>" in text
    tags = {t for t, _ in page.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed"}
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            value = attrs.get(key, "")
            assert not value.startswith(("http:", "https:", "//", "file:")), (tag, value)
    imgs = [a["src"] for t, a in page.tags if t == "img"]
    # 4 drift plots + the training curves + one X-ray per example
    assert len(imgs) >= 5 + 3 and all(src.startswith("data:image/png;base64,") for src in imgs)
    assert "url(" not in text.split("</style>")[0].split("<style>")[1]   # no fetched CSS resource


def test_tables_in_the_papers_layouts(report: Path) -> None:
    text, page = _parse(report)
    caps = page.captions
    assert any("Table 5 layout" in c for c in caps) and any("Table 2 layout" in c for c in caps)
    for short in ("Con.", "PE", "Pna.", "Pnx.", "Ede.", "Avg."):
        assert f">{short}</th>" in text
    # students, ordered oracle (ceiling, not ranked) -> SPD -> APO -> GRPO, labelled from their configs
    students = text.split("Table 5 layout")[1].split("</table>")[0]
    order = [students.index(label) for label in ("oracle (SPD on the reference reports: the ceiling)",
                                                 "SPD (all teachers)", "SPD + APO (vote t+, uniform w)", "GRPO + DiTPO")]
    assert order == sorted(order)
    assert '<tr class="ceiling">' in students
    assert "Inherited loss per finding" in text                    # oracle − student, since the oracle is there
    teachers = text.split("Table 2 layout")[1].split("</table>")[0]
    for name in ("sim-gpt-5", "sim-gemini-2.5", "sim-sonnet-4", "sim-moonshot", "gap (best − worst)"):
        assert name in teachers
    assert 'class="num best"' in text                              # the best value of a column is bold
    # inherited drift, the verdict, consensus, DEER, benchmark
    assert any("Drift errors per 100 texts, by kind" in c for c in caps)
    assert "apo-uniform beat spd on this run" in text
    assert any("DDSampling" in c for c in caps) and any("GRPO / DiTPO" in c for c in caps)
    assert "1,032,448 / 1,212,672" in text and "DiTPO (tfidf)" in text
    bench = text.split("Benchmark: bench_apo_vs_trl.json")[1].split("</table>")[0]
    assert "ratio vs TRL" in bench and "4.09×" in bench            # default 9.4 / trl 2.3 studies/s
    assert any("Consensus t+ against the teachers" in c for c in caps)
    assert "<summary>Run configuration.</summary>" in text and "spd.max_steps" in text   # pipeline.yaml, folded


def test_every_number_of_the_students_table_is_the_runs_eval_json(report: Path, run_dir: Path) -> None:
    students = _table(report, "Table 5 layout")
    heads = [*MSCXRT_FINDINGS.values(), "Avg.", "P", "R", "F1", "err/100"]
    assert [c["text"] for c in students["head"][1]] == heads        # grouped columns: the second header row
    evals = {p.stem: json.loads(p.read_text()) for p in (run_dir / "eval").glob("*.json")}
    shown = {}
    for row in students["rows"]:
        assert len(row) == 1 + len(heads)
        name = row[0]["sub"] or row[0]["text"]                     # the run name under the label
        m = evals[name]
        clin = m["clinical"]["example_based"]
        expected = [*(m["accuracy"][f] for f in MSCXRT_FINDINGS), m["accuracy"]["average"], clin["precision"],
                    clin["recall"], clin["f1"]]
        cells = [c["text"] for c in row[1:]]
        assert cells == [*(_shown(v) for v in expected), _shown(m["drift_errors"]["total"], 1)], name
        for cell, v in zip(cells, [*expected, m["drift_errors"]["total"]]):
            assert float(cell) == pytest.approx(v, abs=0.05)
        shown[name] = cells
    assert shown.keys() == evals.keys()                             # every evaluated student, once


def test_every_number_of_the_teachers_table_is_the_runs_drift_json(report: Path, run_dir: Path) -> None:
    teachers = _table(report, "Table 2 layout")
    assert [c["text"] for c in teachers["head"][0]] == ["teacher", "Accuracy per finding", "Findings vs reference",
                                                        "sim.", "refusal", "err/100"]
    assert [c["text"] for c in teachers["head"][1]] == [*MSCXRT_FINDINGS.values(), "Avg.", "P", "R", "F1"]
    drift = json.loads((run_dir / "drift" / "drift.json").read_text())
    *rows, gap = teachers["rows"]
    assert [r[0]["text"] for r in rows] == drift["teachers"] and gap[0]["text"] == "gap (best − worst)"
    for row in rows:
        m = drift["per_teacher"][row[0]["text"]]
        accs = [m["finding_accuracy"][f] for f in MSCXRT_FINDINGS]
        expected = [*(_shown(v) for v in accs), _shown(sum(accs) / len(accs)),
                    *(_shown(m[k]) for k in ("precision", "recall", "f1", "similarity")),
                    f"{100 * m['refusal_rate']:.1f}%", _shown(m["drift_errors"]["total"], 1)]
        assert [c["text"] for c in row[1:]] == expected, row[0]["text"]
    gaps = [drift["accuracy_gap"][f] for f in MSCXRT_FINDINGS]
    assert [c["text"] for c in gap[1:]] == [*(_shown(g) for g in gaps), _shown(sum(gaps) / len(gaps)), *[""] * 6]


def test_names_reach_the_page_as_text(run_dir: Path, tmp_path: Path) -> None:
    """The template escapes every value: a run named like markup is shown, not interpreted."""
    run = tmp_path / "odd"
    for part in ("eval", "preds", "drift"):
        shutil.copytree(run_dir / part, run / part)
    name = "<i>spd & 'q\""                                    # a file name: no slash
    (run / "eval" / "spd.json").rename(run / "eval" / f"{name}.json")
    text, page = _parse(build_report(run, examples=0))
    assert not [t for t, _ in page.tags if t == "i"]
    row = next(r for r in _table(run / REPORT_FILE, "Table 5 layout")["rows"] if name in (r[0]["text"], r[0]["sub"]))
    assert row[0]["text"] == name
    assert "&lt;i&gt;spd &amp; " in text


def test_everything_from_the_synthetic_world_is_marked(report: Path) -> None:
    text, page = _parse(report)
    assert '<div class="banner"><strong>SYNTHETIC</strong>' in text
    assert page.captions and all(c.startswith("SYNTHETIC ") for c in page.captions)
    examples = [h for h in page.headings if h.startswith("SYNTHETIC Example")]
    assert len(examples) >= 3


def test_examples_mark_the_drift_errors_the_detectors_find(report: Path, run_dir: Path) -> None:
    text, page = _parse(report)
    chosen = re.findall(r"Example \d+: study ([\w-]+)", text)
    assert 3 <= len(chosen) <= 4 and len(set(chosen)) == len(chosen)
    ds = load_dataset(run_dir / "world", verify_images=False)
    preds = {json.loads(line)["study_id"]: json.loads(line)["text"]
             for line in (run_dir / "preds" / "apo-uniform.jsonl").read_text().splitlines()}
    flagged = 0
    for sid in chosen:
        st = ds.study(sid)
        assert st.split == "test"
        errors = text_errors(preds[sid], reference_for(st))
        for kind, sentences in errors.sentences.items():
            for sentence in sentences:
                flagged += 1
                assert sentence[_heading_prefix(sentence):] in page.marks, (sid, kind, sentence)
    assert flagged >= 3                         # the chosen studies are ones where a student errs
    for kind in ("invented", "wrong_side"):
        assert f'<mark class="err err-{kind}' in text or f"err-{kind}" in text
    assert 'class="card consensus"' in text and 'class="card teacher"' in text and 'class="card student"' in text
    assert "vote t+, rebuilt for this report" in text             # test studies are not in the train consensus
    # deterministic: the same run gives the same examples
    again = build_report(run_dir, run_dir / "again.html")
    assert re.findall(r"Example \d+: study ([\w-]+)", again.read_text()) == chosen


def test_a_users_dataset_is_not_marked_synthetic(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "real"
    shutil.copytree(run_dir / "world", run / "world")
    (run / "world" / "world.json").unlink()                       # not made by driftalign synth
    metrics = json.loads((run_dir / "eval" / "spd.json").read_text())
    write_json(run / "eval" / "spd.json", {**metrics, "synthetic": False})
    shutil.copytree(run_dir / "preds", run / "preds")
    text, page = _parse(build_report(run))
    assert "SYNTHETIC" not in text and 'class="tag-synthetic"' not in text
    assert any("Table 5 layout" in c for c in page.captions)
    assert "Example 1: study" in text                             # examples still shown, unmarked


def test_missing_pieces_are_skipped_with_a_note(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "only-drift"
    shutil.copytree(run_dir / "drift", run / "drift")
    (run / "drift" / "driftalign_config.yaml").unlink()           # its `data:` would lead to the dataset
    text, page = _parse(build_report(run, examples=2))
    assert any("Table 2 layout" in c for c in page.captions)
    assert "No evaluation found" in text and "Not in this run" in text
    assert "benchmark table (no bench_*.json)" in text
    assert "No examples" in text                                   # no dataset directory: said, not a crash


@pytest.mark.parametrize("make", [lambda p: p / "absent", lambda p: p])
def test_not_a_run_directory_is_one_clear_error(tmp_path: Path, make, capsys) -> None:
    from driftalign.cli.app import main

    target = make(tmp_path)
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(RunDirError, match="expected .*summary.json"):
        build_report(target)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(target)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {target}") and "\n" not in err


def test_cli_writes_the_report(run_dir: Path, tmp_path: Path, capsys) -> None:
    from driftalign.cli.app import main

    out = tmp_path / "r.html"
    main(["report", str(run_dir), "--out", str(out), "--examples", "3"])
    assert out.is_file() and f"report -> {out}" in capsys.readouterr().out
    assert len(_parse(out)[1].headings) >= 3


def test_multi_seed_experiment(run_dir: Path, tmp_path: Path) -> None:
    """`driftalign run` with `seeds:`: seed-N/ runs + experiment.json (mean ± std over seeds, pooled verdicts)."""
    exp = tmp_path / "exp"
    students: dict[str, list[dict]] = {}
    for seed in (0, 1):
        root = exp / f"seed-{seed}"
        shutil.copytree(run_dir, root, ignore=shutil.ignore_patterns("*.html", "bench_*.json"))
        for cfg in root.rglob("driftalign_config.yaml"):        # each seed's configs name its own world
            cfg.write_text(cfg.read_text().replace(str(run_dir), str(root)))
        for ev in sorted((root / "eval").glob("*.json")):
            students.setdefault(ev.stem, []).append(json.loads(ev.read_text()))
    cols = {"Con.": "Consolidation", "PE": "Pleural Effusion", "Pna.": "Pneumonia", "Pnx.": "Pneumothorax",
            "Ede.": "Edema", "Avg.": "average"}
    table = {name: {"seeds": len(rows), **{c: [rows[0]["accuracy"][k], 0.0] for c, k in cols.items()},
                    "clin. F1": [rows[0]["clinical"]["example_based"]["f1"], 0.0],
                    "drift err/100": [rows[0]["drift_errors"]["total"], 0.0]} for name, rows in students.items()}
    ci = {"diff": 0.01, "lo": -0.02, "hi": 0.04}
    write_json(exp / "experiment.json", {
        "seeds": [0, 1], "split": "test", "synthetic": True, "students": table,
        "inherited_gap": {c: 0.0 for c in cols},
        "verdicts": [{"run": "apo-uniform", "baseline": "spd", "seeds": [0, 1], "beat_baseline": False,
                      "avg_accuracy": ci, "clinical_f1": ci, "drift_errors_per_100": ci}],
        "success": {"run": "apo-uniform", "baseline": "spd", "met": False, "bounds": [],
                    "line": "apo-uniform vs spd: not met (Δavg_accuracy CI lower end -0.0200 > -0.005: NO)"}})
    text, page = _parse(build_report(exp))
    headline = text.split('<div class="headline">')[1].split("</div>")[0]      # the pre-registered criterion, as run
    assert "Pre-registered success criterion, pooled over seeds 0, 1: " in headline
    assert "apo-uniform − spd (pooled)" in headline                      # the criterion's run is the pooled line
    assert '<span class="verdict no">not met</span>' in headline and "CI lower end -0.0200 &gt; -0.005: NO" in headline
    caps = page.captions
    assert any("Table 5 layout" in c and "seeds 0, 1" in c for c in caps)
    rows = _table(exp / REPORT_FILE, "Table 5 layout")["rows"]
    assert len(rows) == len(table)
    for row, (name, cells) in zip(rows, table.items()):             # experiment.json's order, mean ± std
        assert row[0]["text"].endswith(f"[{name}]")                # labelled from the seed's config
        pairs = [cells[c] for c in [*cols, "clin. F1"]] + [cells["drift err/100"]]
        digits = [3] * (len(cols) + 1) + [1]
        assert [(c["text"], c["std"]) for c in row[1:]] == [(_shown(m, d), f" ± {_shown(sd, d)}")
                                                            for (m, sd), d in zip(pairs, digits)]
    assert "SPD + APO (vote t+, uniform w) [apo-uniform]" in text          # labelled from seed-0's config
    assert any("Inherited loss per finding" in c for c in caps)
    kinds = text.split("Drift errors per 100 texts, by kind")[1].split("</table>")[0]
    assert "wrong side" in kinds and kinds.count("–") == 0               # by kind: averaged over the seeds' evals
    assert "apo-uniform − spd (pooled)" in text
    assert any("Table 2 layout" in c for c in caps)                       # teachers from seed-0's drift/
    details = re.findall(r'<div class="card student"><div class="card-head"><h4>[^<]*</h4><div class="detail">([^<]*)',
                         text)
    assert details and all(d.startswith("seed-0/") for d in details)      # examples: one seed's world and students


# ---- units ----------------------------------------------------------------------------------------------


def test_verdicts_in_both_summary_layouts() -> None:
    ci = {"diff": 0.1, "lo": 0.0, "hi": 0.2}
    new = summary_verdicts({"verdicts": [{"run": "grpo", "baseline": "sft", "beat_baseline": True,
                                          "avg_accuracy": ci, "drift_errors_per_100": ci}]})
    old = summary_verdicts({"apo_vs_spd": [{"run": "apo-uniform", "beat_spd": False, "avg_accuracy": ci,
                                            "clinical_f1": ci, "drift_errors_per_100": ci}]})
    assert (new[0].run, new[0].baseline, new[0].beat) == ("grpo", "sft", True)
    assert (old[0].run, old[0].baseline, old[0].beat) == ("apo-uniform", "spd", False)


def test_a_success_check_is_read_only_when_the_run_had_a_criterion() -> None:
    from driftalign.report.records import success_check

    assert success_check(None, "on this run") is None and success_check({"met": True}, "on this run") is None
    check = success_check({"run": "a", "baseline": "spd", "met": None, "line": "a vs spd: no verdict compares them"},
                          "on this run")
    assert check is not None and check.met is None and (check.run, check.baseline, check.scope) == ("a", "spd",
                                                                                                    "on this run")
    assert success_check({"met": True, "line": "a vs spd: met (...)"}, "pooled over seeds 0").met is True


def test_error_spans_skip_headings_and_merge_overlaps() -> None:
    from driftalign.drift.errors import TextErrors

    text = "### Image analysis:\n- A right pneumothorax.\n- Left effusion."
    errors = TextErrors({"invented": 1, "wrong_side": 1, "overgeneralisation": 0, "wrong_location": 0, "sign": 0},
                        {"invented": ("### Image analysis:\n- A right pneumothorax.",),
                         "wrong_side": ("- A right pneumothorax.",), "overgeneralisation": (), "wrong_location": (),
                         "sign": ()})
    (span,) = error_spans(text, errors)
    assert text[span.start:span.end] == "- A right pneumothorax." and span.kinds == ("invented", "wrong_side")


def test_choose_studies_covers_error_kinds_first() -> None:
    from driftalign.drift.errors import ERROR_KINDS, TextErrors

    def errs(**counts: int) -> TextErrors:
        return TextErrors({k: counts.get(k, 0) for k in ERROR_KINDS}, {k: () for k in ERROR_KINDS})

    ranked = {"a": [errs(), errs()], "b": [errs(invented=2), errs(invented=1)], "c": [errs(sign=1), errs()],
              "d": [errs(invented=1, wrong_side=1), errs()]}
    assert choose_studies(["a", "b", "c", "d"], ranked, 3) == ["d", "c", "b"]
    assert choose_studies(["a", "b", "c", "d"], ranked, 3) == choose_studies(["a", "b", "c", "d"], ranked, 3)


def test_collect_recognises_the_stage_outputs(run_dir: Path) -> None:
    c = collect_run(run_dir)
    assert c.synthetic and c.dataset == run_dir / "world"
    assert {s.name for s in c.students} == {"spd", "apo-uniform", "rl", "oracle"}
    assert all(s.preds is not None and s.preds.parent.name == "preds" for s in c.students)
    assert next(iter(c.students_by_split()["test"])).oracle is True
    assert c.drift is not None and len(c.drift.plots) == 4
    assert len(c.ddsample) == 1 and len(c.grpo) == 1 and len(c.benchmarks) == 1 and len(c.consensus) == 1
    assert {t.name for t in c.training} == {"spd", "apo-uniform", "rl"}


# ---- in a real browser --------------------------------------------------------------------------------------


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: install the Debian package (apt-get install -y "
                    "chromium; scripts/install.sh does it) to render the report in a headless browser")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,4000",
           report.resolve().as_uri()]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180)
    assert shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
    assert rgb.size == (1280, 4000)
    colors = rgb.getcolors(maxcolors=1 << 20)
    assert colors is None or len(colors) > 200                    # text, tables, figures: not one colour
    # the SYNTHETIC banner at the top is drawn (its pale orange), and text fills the page below it
    assert rgb.getpixel((640, 8))[2] < rgb.getpixel((640, 8))[0] - 10
    gray = rgb.convert("L")
    width, height = gray.size
    pixels = gray.load()
    rows_with_text = sum(1 for y in range(0, height, 2) if any(pixels[x, y] < 100 for x in range(0, width, 2)))
    assert rows_with_text > 400                                    # of 2,000 sampled rows


def test_an_spd_on_the_references_is_the_ceiling_only_as_the_oracle_stage(tmp_path: Path) -> None:
    from driftalign.report.collect import describe_model

    cfg = {"targets": "reference", "model": "student", "data": "world"}
    assert describe_model("oracle", cfg, tmp_path) == ("oracle (SPD on the reference reports: the ceiling)", "oracle")
    assert describe_model("seed-0/oracle", cfg, tmp_path)[1] == "oracle"
    # DEER's pipeline: the `spd` stage trained on the references is the SFT every GRPO run starts from
    assert describe_model("spd", cfg, tmp_path) == ("SFT (reference reports)", "sft")
    assert describe_model("spd", {**cfg, "train_only": "vision"}, tmp_path)[1] == "sft"


def test_deer_layouts_of_a_multi_seed_run_reach_the_report(tmp_path: Path) -> None:
    from driftalign.report.collect import read_experiment
    from driftalign.report.sections import deer_layouts

    ci = {"diff": -6.5, "lo": -12.0, "hi": -1.0}
    deer = {"seeds": [0, 1, 2], "columns": {"table1": ["CE F1", "BLEU-4"], "table7": ["zero-std groups, phase 1"]},
            "table1": {"spd": {"seeds": 3, "CE F1": [0.763, 0.015], "BLEU-4": [0.339, 0.007]}},
            "table7": {"deer": {"seeds": 3, "zero-std groups, phase 1": [0.241, 0.023]}},
            "comparisons": [{"run": "ditpo-gradient-100", "baseline": "grpo-100", "seeds": [0, 1, 2],
                             "avg_accuracy": ci, "clinical_f1": ci, "drift_errors_per_100": ci}]}
    exp = read_experiment({"seeds": [0, 1, 2], "students": {}, "verdicts": [], "deer": deer}, tmp_path, [])
    assert [c.name for c in exp.comparisons] == ["ditpo-gradient-100 − grpo-100 (pooled)"]
    assert exp.comparisons[0].seeds == "0,1,2" and exp.comparisons[0].avg_accuracy.lo == -12.0
    table1, table7 = deer_layouts(exp)
    assert "DEER Table 1 layout" in table1.caption.title and "DEER Table 7 layout" in table7.caption.title
    assert [c.head for c in table1.cols] == ["student", "CE F1", "BLEU-4"]     # the headers the pipeline wrote
    assert [(c.text, c.std) for c in table1.rows[0].cells] == [("spd", ""), ("0.763", " ± 0.015"),
                                                                ("0.339", " ± 0.007")]
    assert [c.head for c in table7.cols] == ["run", "zero-std groups, phase 1"]
    assert table7.rows[0].cells[1].text == "0.241"
    # an experiment.json of a run from before the pipeline wrote `columns`: the rows' keys, in their order
    older = read_experiment({"seeds": [0, 1, 2], "students": {}, "verdicts": [],
                             "deer": {k: v for k, v in deer.items() if k != "columns"}}, tmp_path, [])
    heads = [[c.head for c in t.cols] for t in (table1, table7)]
    assert [[c.head for c in t.cols] for t in deer_layouts(older)] == heads


def test_the_pipelines_deer_tables_reach_the_report_with_their_headers(run_dir: Path, tmp_path: Path) -> None:
    """`pipeline.deer_tables` writes its column headers into experiment.json; the report shows them and the numbers
    under them without importing pipeline/."""
    import driftalign.report
    from driftalign.pipeline.deer_tables import TABLE1, TABLE7, deer_tables

    exp = tmp_path / "exp"
    for part in ("rl", "eval"):
        shutil.copytree(run_dir / part, exp / "seed-0" / part)
    deer = deer_tables(exp, [0], ["spd", "rl"])
    assert deer is not None and deer["columns"] == {"table1": list(TABLE1), "table7": list(TABLE7)}
    write_json(exp / "experiment.json", {"seeds": [0], "split": "test", "synthetic": True, "students": {},
                                         "inherited_gap": {}, "verdicts": [], "deer": deer})
    build_report(exp, examples=0)
    for caption, key, first in (("DEER Table 1 layout", "table1", "student"), ("DEER Table 7 layout", "table7", "run")):
        shown = _table(exp / REPORT_FILE, caption)
        heads = deer["columns"][key]
        assert [c["text"] for c in shown["head"][0]] == [first, *heads]
        assert [r[0]["text"] for r in shown["rows"]] == list(deer[key])
        for row in shown["rows"]:                                   # one seed: the mean alone
            assert [c["text"] for c in row[1:]] == [_shown(deer[key][row[0]["text"]][h][0]) for h in heads]
    sources = Path(driftalign.report.__file__).parent.glob("*.py")
    assert not [p.name for p in sources if re.search(r"driftalign\.pipeline|from \.\.pipeline", p.read_text())]


# ---- what APO learns while it trains (logps_per_token/*, monitor/*) ------------------------------------------


def _apo_dynamics_log(steps: tuple[int, ...] = (5, 10, 15, 20), every: int = 10,
                      teachers: tuple[str, ...] = ("sim-gpt-5",), accuracy: bool = True, logps: bool = True) -> list[dict]:
    """An APO trainer_log.jsonl as `training.apo` (logging steps) and `training.apo_monitor` (--eval-every) write it."""
    rows: list[dict] = []
    last = steps[-1]
    monitor_steps = sorted({0, *range(every, last + 1, every), last})
    for s in sorted({*steps, *monitor_steps}):
        if s in monitor_steps:                  # RichProgress: {"step": global_step, **logs}; no "loss"
            m = {"step": s, "monitor/words": 58.0 - s, "monitor/invented_per_100": 23.6 + s,
                 "monitor/drift_errors_per_100": 40.0 + 1.5 * s, "monitor/accuracy/Pneumonia": 0.5 + 0.01 * s,
                 "monitor/studies": 16.0, "monitor/seconds": 3.2, "epoch": s / 20}
            if accuracy and s:                  # absent when no finding is defined on the subset (here: step 0)
                m["monitor/avg_accuracy"] = 0.55 + 0.005 * s
            rows.append(m)
        if s in steps:
            r = {"step": s, "loss": 1.2 - 0.01 * s, "grad_norm": 1.0, "learning_rate": 1e-5,
                 "rewards/chosen": 0.01 * s, "rewards/rejected": -0.02 * s, "rewards/margins": 0.03 * s,
                 "rewards/accuracy": 0.6, "anchor/dpop_penalty": 0.02 * s, "anchor/dpop_active": 0.5, "epoch": s / 20}
            if logps:
                r.update({"logps_per_token/chosen": -1.1 - 0.02 * s, "logps_per_token/ref_chosen": -1.1,
                          "logps_per_token/rejected": -1.4 - 0.05 * s, "logps_per_token/ref_rejected": -1.4,
                          **{f"logps_per_token/teacher/{t}": -1.5 - 0.04 * s for t in teachers}})
            rows.append(r)
    rows.append({"step": last, "train_runtime": 9.0, "train_loss": 1.0, "epoch": 1.0})
    return rows


def _figure(text: str, page: _Page, alt: str) -> bytes:
    import base64

    (src,) = [a["src"] for t, a in page.tags if t == "img" and a.get("alt") == alt]
    assert src.startswith("data:image/png;base64,")
    return base64.b64decode(src.split(",", 1)[1])


def test_apo_training_dynamics_figure(run_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    from driftalign.report.figures import DPI

    run = tmp_path / "apo-run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("*.html"))
    write_jsonl(run / "apo-uniform" / "trainer_log.jsonl", _apo_dynamics_log())
    text, page = _parse(build_report(run, examples=0))
    caps = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<figcaption>(.*?)</figcaption>", text)
            if "What APO learns while it trains." in c]
    assert len(caps) == 1 and caps[0].startswith("SYNTHETIC What APO")   # the synthetic world's tag, as every caption
    for words in ("(a)", "likelihood displacement", "(b)", "words per greedy report", "(c)", "Invented findings",
                  "(d)", "accuracy"):
        assert words in caps[0]
    png = _figure(text, page, "what APO learns while it trains")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(__import__("io").BytesIO(png)) as im:
        assert im.size == (round(4 * 3.0 * DPI), round(2.5 * DPI))       # one APO stage: one row of four panels
    # the training curves still show the APO loss; the monitor entries (no "loss") do not break them
    assert _figure(text, page, "training curves").startswith(b"\x89PNG")
    assert "training curves not drawn" not in text and "APO training dynamics not drawn" not in text


def test_no_apo_training_dynamics_without_its_keys(report: Path) -> None:
    """The module's run: an APO log with loss and rewards/* only (an older run): no such figure, no note, no error."""
    text, page = _parse(report)
    assert "What APO learns" not in text
    assert not [a for t, a in page.tags if t == "img" and a.get("alt") == "what APO learns while it trains"]
    assert "APO training dynamics not drawn" not in text
    assert "Training curves." in text


def test_apo_dynamics_panels_and_stages(tmp_path: Path) -> None:
    import io

    from PIL import Image

    from driftalign.report.collect import TrainingLog
    from driftalign.report.figures import DPI, MAX_PANELS, apo_dynamics

    def log(name: str, rows: list[dict]) -> TrainingLog:
        return TrainingLog(name, tmp_path / name / "trainer_log.jsonl", tuple(rows))

    def size(png: bytes | None) -> tuple[int, int]:
        assert png is not None and png.startswith(b"\x89PNG")
        with Image.open(io.BytesIO(png)) as im:
            return im.size

    spd = log("spd", [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3)])
    assert apo_dynamics([], True) is None and apo_dynamics([spd], False) is None
    # monitor only (no logps_per_token/*, as before this logging existed, with --eval-every): panels (b)-(d)
    assert size(apo_dynamics([spd, log("apo", _apo_dynamics_log(logps=False))], True)) == \
        (round(3 * 3.0 * DPI), round(2.5 * DPI))
    # log-probs only (no --eval-every): panel (a); no avg_accuracy at all: still no error
    no_monitor = [r for r in _apo_dynamics_log(accuracy=False) if "monitor/words" not in r]
    assert size(apo_dynamics([log("apo", no_monitor)], False)) == (round(3.0 * DPI), round(2.5 * DPI))
    # a single logged point, a non-finite value: drawn; no monitor/avg_accuracy anywhere: no panel (d)
    one = [{"step": 5, "loss": 1.0, "logps_per_token/chosen": -1.0, "logps_per_token/rejected": float("nan")},
           {"step": 0, "monitor/words": 40.0, "monitor/invented_per_100": 12.0}]
    assert size(apo_dynamics([log("apo", one)], True))[0] == round(3 * 3.0 * DPI)
    # a multi-seed experiment: one row per seed's APO stage, capped as the training curves are
    seeds = [log(f"seed-{i}/apo-uniform", _apo_dynamics_log(teachers=("a", "b"))) for i in range(MAX_PANELS + 1)]
    assert size(apo_dynamics([spd, *seeds], True)) == (round(4 * 3.0 * DPI), round(MAX_PANELS * 2.5 * DPI))
