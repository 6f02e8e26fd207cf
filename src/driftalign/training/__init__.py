"""Training building blocks shared by SPD, APO and DiTPO, and the SPD stage.

* `common`     — `TrainingStageConfig` (shared flags) -> `TrainingArguments`; LoRA / vision freeze
* `spd`        — supervised pre-distillation (SPEC §3 eq. 6)

The model inputs every trainer and the generation backends build are `models.chat` (images, prompt, answer
with the answer-token mask) and `models.collators` (`VisionChatCollator`).
"""
