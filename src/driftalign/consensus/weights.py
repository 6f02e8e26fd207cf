"""Teacher weights w_u of the APO objective (SPEC §3 eq. 9: sum_u w_u exp(r_u)).

The paper leaves w_u unspecified (default 1). Three schemes, named in one enum:

* ``uniform`` (paper default): w_u = 1 for every valid negative.
* ``drift`` (new, opt-in): the more a teacher's trajectory drifts from t+, the harder it is pushed
  down, and a trajectory that fully agrees with t+ is not pushed down at all:

      d_u  = Jaccard distance of u's claims from t+'s claims      (consensus.claims.drift_from)
      w_u  = min( d_u / mean_{u' in row} d_u' , W_MAX )           W_MAX = 3
      w_u  = 0 for every u when mean d = 0 (all teachers agree with t+: nothing to push down)

  The mean is over the row's valid negatives, so weights average ~1 and beta keeps its meaning
  across schemes; d_u = 0 gives w_u = 0, which `apo_loss` treats as a dropped negative.
* ``errors`` (new, opt-in): only trajectories that t+ says are *wrong* are pushed down:

      e_u  = claims of u contradicting t+ or asserting a finding t+ lacks   (consensus.claims.errors_against)
      w_u  = min( e_u / mean_{u' in row, e_u' > 0} e_u' , W_MAX ),  w_u = 0 when e_u = 0

  Unlike ``drift`` it ignores pertinent negatives and omissions (style), so a correct but
  differently worded trajectory is never pushed down; a row where no teacher errs trains nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

DRIFT_WEIGHT_MAX = 3.0


class WeightScheme(str, Enum):
    UNIFORM = "uniform"
    DRIFT = "drift"
    ERRORS = "errors"


def uniform_weights(drifts: Sequence[float]) -> list[float]:
    """w_u = 1 (the paper's default)."""
    return [1.0] * len(drifts)


def drift_weights(drifts: Sequence[float], w_max: float = DRIFT_WEIGHT_MAX) -> list[float]:
    """w_u = min(d_u / mean(d), w_max); all 0 when mean(d) = 0 (module docstring)."""
    if any(not 0.0 <= d <= 1.0 for d in drifts):
        raise ValueError(f"drift scores must lie in [0, 1], got {list(drifts)}")
    if not drifts:
        return []
    mean = sum(drifts) / len(drifts)
    if mean == 0.0:
        return [0.0] * len(drifts)
    return [min(d / mean, w_max) for d in drifts]


def error_weights(errors: Sequence[int], w_max: float = DRIFT_WEIGHT_MAX) -> list[float]:
    """w_u = min(e_u / mean of the positive e, w_max); 0 where e_u = 0 (module docstring)."""
    if any(e < 0 for e in errors):
        raise ValueError(f"error counts must be >= 0, got {list(errors)}")
    wrong = [e for e in errors if e > 0]
    if not wrong:
        return [0.0] * len(errors)
    mean = sum(wrong) / len(wrong)
    return [min(e / mean, w_max) for e in errors]


def teacher_weights(drifts: Sequence[float], scheme: WeightScheme | str,
                    errors: Sequence[int] | None = None) -> list[float]:
    """Weights of one row's valid negatives, in the order of `drifts` (`errors` for the errors scheme)."""
    scheme = WeightScheme(scheme)
    if scheme is WeightScheme.DRIFT:
        return drift_weights(drifts)
    if scheme is WeightScheme.ERRORS:
        if errors is None or len(errors) != len(drifts):
            raise ValueError("the errors scheme needs one error count per negative")
        return error_weights(errors)
    return uniform_weights(drifts)
