"""Self-calibration and bilinear inverse problems by linear least squares (Ling & Strohmer).

:class:`SelfCalibration` estimates an unknown diagonal calibration ``d`` and the signal(s)
``x`` from ``y_l = diag(d) A_l x_l`` by solving a linear system in ``(1/d, x)``;
:mod:`~sparserec.selfcal.models` holds the models as matrix-free operators and
:func:`alternating_least_squares` is the bilinear baseline.
"""

from .baselines import alternating_least_squares
from .estimators import SelfCalibration
from .models import (
    MODELS,
    Diverse,
    InverseSubspace,
    Repeated,
    SelfCalModel,
    Snapshots,
    Subspace,
    make_model,
)

__all__ = [
    "SelfCalibration",
    "alternating_least_squares",
    "SelfCalModel",
    "Repeated",
    "Diverse",
    "Snapshots",
    "Subspace",
    "InverseSubspace",
    "MODELS",
    "make_model",
]
