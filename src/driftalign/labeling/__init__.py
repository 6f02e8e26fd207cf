"""The CheXpert-style report labeler (ConText rules, no external NLP dependency).

    from driftalign.labeling import label_reports, extract_mentions, Mention
    label_reports(["Small left pleural effusion. No pneumothorax."])
    # [{"Pleural Effusion": 1, "Pneumothorax": 0, "No Finding": None, ...}]
"""

from driftalign.labeling.labeler import label_report, label_reports, labels_from_mentions, merge_value
from driftalign.labeling.mentions import Mention, extract_mentions

__all__ = ["Mention", "extract_mentions", "label_report", "label_reports", "labels_from_mentions", "merge_value"]
