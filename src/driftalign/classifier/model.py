"""The CheXbert-layout report classifier: a BERT encoder, dropout and 14 linear heads on the [CLS] vector.

Layout of the published CheXbert (stanfordmlgroup/CheXbert, `src/models/bert_labeler.py`; SPEC §4), kept
parameter for parameter so that its `chexbert.pth` loads into this module unchanged (`chexbert_format`):

    self.bert          BertModel (with its pooler, unused, as CheXbert's)
    self.dropout       nn.Dropout(p = 0.1) on the [CLS] hidden state
    self.linear_heads  14 x nn.Linear(hidden, classes): 13 heads x 4 classes {blank, positive, negative,
                       uncertain} and the last, No Finding, x 2 {blank, positive}

**Head order** is CheXbert's `CONDITIONS` order (`CHEXBERT_CONDITIONS`), NOT `constants.OBSERVATIONS`
(alphabetical, No Finding 9th): head i of a real checkpoint is CHEXBERT_CONDITIONS[i], and No Finding
must be the last, 2-class head. Everything outside this package speaks observation names (label dicts),
so the order is mapped by name here and nowhere else (`head_index`).

**Classes** are CheXbert's encoding: blank 0, positive 1, negative 2, uncertain 3. The rule labeler's
values (1 positive, 0 negative, -1 uncertain, None not mentioned) map to them with `value_to_class` and
back with `class_to_value`. No Finding has no negative or uncertain class: its 0 / -1 become blank
(the rule labeler only ever writes 1 or None for it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel, PreTrainedTokenizerBase

from driftalign.classifier.config import DEFAULT_MAX_LENGTH, HEAD_DROPOUT
from driftalign.constants import OBSERVATIONS

# CheXbert's CONDITIONS (src/constants.py of stanfordmlgroup/CheXbert): the order of its linear heads.
CHEXBERT_CONDITIONS: tuple[str, ...] = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
    "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices", "No Finding",
)
assert sorted(CHEXBERT_CONDITIONS) == sorted(OBSERVATIONS), "CheXbert's conditions are the 14 observations"

NO_FINDING = "No Finding"
BLANK, POSITIVE, NEGATIVE, UNCERTAIN = 0, 1, 2, 3              # CheXbert's CLASS_MAPPING
CLASS_NAMES: tuple[str, ...] = ("blank", "positive", "negative", "uncertain")
HEAD_CLASSES: tuple[int, ...] = tuple(2 if name == NO_FINDING else 4 for name in CHEXBERT_CONDITIONS)

_VALUE_TO_CLASS: dict[int | None, int] = {None: BLANK, 1: POSITIVE, 0: NEGATIVE, -1: UNCERTAIN}
_CLASS_TO_VALUE: dict[int, int | None] = {c: v for v, c in _VALUE_TO_CLASS.items()}

Labels = dict[str, int | None]


def head_index(observation: str) -> int:
    """Index of the head (in `ReportClassifier.linear_heads`) that classifies `observation`."""
    try:
        return CHEXBERT_CONDITIONS.index(observation)
    except ValueError:
        raise ValueError(f"unknown observation {observation!r}; expected one of {list(OBSERVATIONS)}") from None


def value_to_class(observation: str, value: int | None) -> int:
    """Label value (1 / 0 / -1 / None) -> CheXbert class of `observation`'s head (No Finding: 0 / -1 -> blank)."""
    if value not in _VALUE_TO_CLASS:
        raise ValueError(f"{observation}: label must be 1, 0, -1 or None, got {value!r}")
    cls = _VALUE_TO_CLASS[value]
    return BLANK if observation == NO_FINDING and cls not in (BLANK, POSITIVE) else cls


def class_to_value(cls: int) -> int | None:
    """CheXbert class (0 blank, 1 positive, 2 negative, 3 uncertain) -> label value (None / 1 / 0 / -1)."""
    return _CLASS_TO_VALUE[int(cls)]


def labels_to_classes(labels: Mapping[str, int | None]) -> list[int]:
    """A label dict (observations left out are blank) -> the 14 head classes, in head order."""
    unknown = sorted(set(labels) - set(OBSERVATIONS))
    if unknown:
        raise ValueError(f"unknown observation(s) {unknown}")
    return [value_to_class(name, labels.get(name)) for name in CHEXBERT_CONDITIONS]


def classes_to_labels(classes: Sequence[int]) -> Labels:
    """The 14 head classes (head order) -> a label dict in `OBSERVATIONS` order (the rule labeler's convention)."""
    by_name = {name: class_to_value(c) for name, c in zip(CHEXBERT_CONDITIONS, classes, strict=True)}
    return {name: by_name[name] for name in OBSERVATIONS}


def classifier_config(base: BertConfig, *, max_length: int = DEFAULT_MAX_LENGTH,
                      head_dropout: float = HEAD_DROPOUT) -> BertConfig:
    """`base` (a BERT config) plus what the classifier's directory records about its heads."""
    config = BertConfig(**{**base.to_dict(), "architectures": ["ReportClassifier"]})
    config.chexbert_conditions = list(CHEXBERT_CONDITIONS)
    config.head_classes = list(HEAD_CLASSES)
    config.class_names = list(CLASS_NAMES)
    config.head_dropout = head_dropout
    config.classifier_max_length = max_length
    return config


class ReportClassifier(BertPreTrainedModel):
    """CheXbert's `bert_labeler` as a transformers model (save_pretrained / from_pretrained, safetensors).

    forward -> a list of 14 logit tensors [B, 4] (No Finding, last: [B, 2]) in `CHEXBERT_CONDITIONS` order,
    computed from the [CLS] hidden state. `inputs_embeds` (the word embeddings, [B, L, H]) may replace
    `input_ids`: the gradient token weights differentiate with respect to them (`rl.gradient_weights`).
    """

    config_class = BertConfig
    base_model_prefix = "bert"

    def __init__(self, config: BertConfig):
        super().__init__(config)
        conditions = tuple(getattr(config, "chexbert_conditions", CHEXBERT_CONDITIONS))
        if conditions != CHEXBERT_CONDITIONS:
            raise ValueError(f"head order {list(conditions)} is not CheXbert's {list(CHEXBERT_CONDITIONS)}")
        self.bert = BertModel(config)
        self.dropout = nn.Dropout(getattr(config, "head_dropout", HEAD_DROPOUT))
        self.linear_heads = nn.ModuleList(nn.Linear(config.hidden_size, n) for n in HEAD_CLASSES)
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None,
                **_: object) -> list[torch.Tensor]:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                           inputs_embeds=inputs_embeds).last_hidden_state          # [B, L, H]
        cls = self.dropout(hidden[:, 0, :])                                          # [B, H]
        return [head(cls) for head in self.linear_heads]                             # 14 x [B, C_h]


@dataclass
class Classifier:
    """A loaded report classifier: the model, its word-piece tokenizer and the length it reads.

    `label(texts)` is a labeler: texts -> one {observation: 1 | 0 | -1 | None} per text (the rule labeler's
    convention), so it can stand in for `labeling.label_reports` (e.g. in the clinical reward).
    """

    model: ReportClassifier
    tokenizer: PreTrainedTokenizerBase
    max_length: int = DEFAULT_MAX_LENGTH
    source: Path | None = None
    batch_size: int = 32
    meta: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, texts: Sequence[str], *, offsets: bool = False) -> dict[str, torch.Tensor]:
        """Word pieces of each text, [CLS] ... [SEP], cut at `max_length` (keeping [SEP], as CheXbert), padded.

        No text cleaning: CheXbert's (strip, newlines -> spaces, squeeze spaces) does not change BERT's
        word pieces, and the raw text keeps the character offsets the gradient weights need.
        """
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_length, padding=True,
                              return_tensors="pt", return_offsets_mapping=offsets)

    @torch.no_grad()
    def logits(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """14 logit tensors [N, C_h] (head order) for `texts`, eval mode, in batches of `batch_size` texts of
        similar length (longest first; rows come back in the order of `texts`)."""
        texts = list(texts)
        if not texts:
            return [torch.zeros(0, n) for n in HEAD_CLASSES]
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        was_training = self.model.training
        self.model.eval()
        try:
            chunks: list[list[torch.Tensor]] = []
            for start in range(0, len(order), self.batch_size):
                enc = self.encode([texts[i] for i in order[start:start + self.batch_size]])
                chunks.append(self.model(input_ids=enc["input_ids"].to(self.device),
                                         attention_mask=enc["attention_mask"].to(self.device)))
        finally:
            self.model.train(was_training)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        return [torch.cat([c[h] for c in chunks]).float().cpu()[inverse] for h in range(len(HEAD_CLASSES))]

    @staticmethod
    def labels_from_logits(logits: list[torch.Tensor]) -> list[Labels]:
        """Argmax class per head -> one label dict (1 / 0 / -1 / None) per row."""
        classes = torch.stack([h.argmax(-1) for h in logits], dim=1)                      # [N, 14]
        return [classes_to_labels(row) for row in classes.tolist()]

    def label(self, texts: Sequence[str]) -> list[Labels]:
        """The 14 labels of each text (argmax class per head -> 1 / 0 / -1 / None)."""
        return self.labels_from_logits(self.logits(texts))

    def __call__(self, texts: list[str]) -> list[Labels]:
        return self.label(texts)

    def positive_probabilities(self, logits: list[torch.Tensor]) -> list[dict[str, float]]:
        """P(positive) of every observation per row of `logits` (softmax over each head's classes)."""
        probs = {name: torch.softmax(h, -1)[:, POSITIVE].tolist() for name, h in zip(CHEXBERT_CONDITIONS, logits)}
        n = len(logits[0]) if logits else 0
        return [{name: probs[name][i] for name in OBSERVATIONS} for i in range(n)]
