"""DEER's RL building blocks (SPEC §1, §3): pure functions of labels, rewards, token ids and log-probs.

* `diversity`     — diagnostic diversity D of K sampled reports (eq. 3-4)
* `rank_sampling` — log-rank probabilities (eq. 5) and the without-replacement draw of DDSampling
* `advantages`    — group-relative advantages (eq. 2) and per-token advantages A_i * w_i^t (DiTPO)
* `token_weights` — DiTPO's rule-based TF-IDF token weights
* `loss`          — DiTPO's PPO-clipped surrogate with token advantages (+ optional k3 KL)
* `reward`        — the clinical reward F1 + gamma * BLEU-2 (eq. 1) and its two-phase schedule

See docs/deer.md for the equations -> functions map; the trainer is `training.grpo_trainer` (`driftalign grpo`).
"""

from driftalign.rl.advantages import group_advantages, token_advantages
from driftalign.rl.diversity import binary_labels, diagnostic_diversity
from driftalign.rl.loss import ditpo_loss
from driftalign.rl.rank_sampling import draw_by_rank, log_rank_probabilities, rank_by_diversity
from driftalign.rl.reward import RewardSchedule, bleu2, clinical_reward, reward_terms
from driftalign.rl.token_weights import tfidf_token_weights

__all__ = [
    "RewardSchedule", "binary_labels", "bleu2", "clinical_reward", "diagnostic_diversity", "ditpo_loss", "draw_by_rank",
    "group_advantages", "log_rank_probabilities", "rank_by_diversity", "reward_terms", "tfidf_token_weights",
    "token_advantages",
]
