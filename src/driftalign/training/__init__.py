"""Training building blocks shared by SPD, APO and DiTPO, and the SPD stage.

* `chat`       — model inputs for (images, prompt, answer) with the answer-token mask
* `collators`  — `VisionChatCollator`: pads text fields, concatenates image fields
* `common`     — `TrainingStageConfig` (shared flags) -> `TrainingArguments`; LoRA / vision freeze
* `spd`        — supervised pre-distillation (SPEC §3 eq. 6)
"""
