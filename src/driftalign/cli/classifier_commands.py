"""`driftalign classifier train|label|eval`: the CheXbert-layout report classifier (docs/deer.md §6)."""

from __future__ import annotations

import click

from driftalign.classifier.config import ClassifierEvalConfig, ClassifierLabelConfig, ClassifierTrainConfig
from driftalign.cli.options import config_command


def _with_in_alias(command: click.Command) -> click.Command:
    """Let `--in` name the `input` field too (`--in` cannot be a field name: `in` is a Python keyword)."""
    for i, param in enumerate(command.params):
        if param.name == "input" and isinstance(param, click.Option):
            command.params[i] = click.Option(["--in", "--input", "input"], type=param.type, default=None,
                                             help=param.help)
    return command


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _train(cfg: ClassifierTrainConfig) -> None:
    from driftalign.classifier.train import run_classifier_train

    metrics = run_classifier_train(cfg)
    train = metrics["train"]
    line = (f"classifier train: {metrics['data']['train_texts']} texts, {train['steps']} steps in "
            f"{train['seconds']:.0f} s, final loss {train['final_loss']:.3f} -> {cfg.out}/final")
    held_out = metrics["eval"].get("all")
    if held_out:
        line += (f"; held-out agreement ({held_out['n']} texts): macro accuracy {_fmt(held_out['macro']['accuracy'])}, "
                 f"kappa {_fmt(held_out['macro']['kappa'])}, exact {_fmt(held_out['exact'])}")
    click.echo(line)


def _label(cfg: ClassifierLabelConfig) -> None:
    from driftalign.classifier.label import run_classifier_label

    click.echo(run_classifier_label(cfg))


def _eval(cfg: ClassifierEvalConfig) -> None:
    from rich.console import Console
    from rich.table import Table

    from driftalign.classifier.label import run_classifier_eval
    from driftalign.constants import OBSERVATIONS

    result = run_classifier_eval(cfg)
    against = [k for k in ("rules", "given", "rules_vs_given") if k in result]
    names = {"rules": "classifier vs rules", "given": f"classifier vs {cfg.labels_key}",
             "rules_vs_given": f"rules vs {cfg.labels_key}"}
    table = Table(title=f"agreement on {cfg.input} ({result['rules']['n']} reports): accuracy / kappa")
    table.add_column("observation")
    for key in against:
        table.add_column(names[key], justify="right")
    for name in OBSERVATIONS:
        table.add_row(name, *(f"{_fmt(result[k]['per_observation'][name]['accuracy'])} / "
                              f"{_fmt(result[k]['per_observation'][name]['kappa'])}" for k in against))
    table.add_row("[bold]macro", *(f"{_fmt(result[k]['macro']['accuracy'])} / {_fmt(result[k]['macro']['kappa'])}"
                                   for k in against))
    table.add_row("all 14 equal", *(_fmt(result[k]["exact"]) for k in against))
    Console().print(table)


def commands() -> list[click.Command]:
    group = click.Group("classifier", help="The CheXbert-layout report classifier: train it on (rule-labelled) "
                                           "report texts, label reports with it, measure its agreement.",
                        short_help="CheXbert-layout report classifier: train | label | eval.")
    group.add_command(config_command(
        "train", ClassifierTrainConfig, _train,
        "Train the report classifier (BERT + 14 heads, CheXbert's layout) on the rule labeler's labels of a dataset's "
        "reference reports and teacher trajectories (or a JSONL of texts) -> OUT/final."))
    group.add_command(_with_in_alias(config_command(
        "label", ClassifierLabelConfig, _label,
        "Label a JSONL of reports with a classifier (or a CheXbert chexbert.pth + --tokenizer): 14 labels "
        "(1 / 0 / -1 / null) and P(positive) scores per row.")))
    group.add_command(_with_in_alias(config_command(
        "eval", ClassifierEvalConfig, _eval,
        "Agreement of a classifier with the rule labeler (and with the rows' own labels) on a JSONL of reports.")))
    return [group]
