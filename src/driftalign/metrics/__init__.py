"""Evaluation metrics: NLG (BLEU/ROUGE-L/METEOR/CIDEr), clinical P/R/F1, MS-CXR-T accuracy, AUC."""

from driftalign.metrics.accuracy import mscxrt_accuracy
from driftalign.metrics.auc import auc_scores
from driftalign.metrics.clinical import clinical_scores, report_f1
from driftalign.metrics.evaluate import evaluate_predictions, load_predictions
from driftalign.metrics.nlg import NLG_KEYS, clean_report, nlg_scores

__all__ = [
    "NLG_KEYS", "auc_scores", "clean_report", "clinical_scores", "evaluate_predictions", "load_predictions",
    "mscxrt_accuracy", "nlg_scores", "report_f1",
]
