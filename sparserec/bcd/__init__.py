"""Greedy block coordinate descent (Nutini, Laradji & Schmidt, arXiv 1712.08859).

Three composable building blocks — a partition (:mod:`.blocks`), a selection rule
(:mod:`.rules`) and an update rule (:mod:`.updates`) — run by :func:`.solver.bcd` on the
losses of :mod:`.losses`; the estimators sit on top.
"""

from .blocks import PARTITIONS
from .cv import BCDClassifierCV, BCDRegressorCV
from .estimators import BCDClassifier, BCDLabelPropagation, BCDRegressor
from .path import bcd_path
from .rules import RULES
from .updates import UPDATES

__all__ = ["BCDRegressor", "BCDClassifier", "BCDLabelPropagation", "BCDRegressorCV",
           "BCDClassifierCV", "bcd_path", "RULES", "PARTITIONS", "UPDATES"]
