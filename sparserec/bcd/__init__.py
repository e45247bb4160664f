"""Greedy block coordinate descent (Nutini, Laradji & Schmidt, arXiv 1712.08859).

Three composable building blocks — a partition (:mod:`.blocks`), a selection rule
(:mod:`.rules`) and an update rule (:mod:`.updates`) — run by :func:`.solver.bcd` on the
losses of :mod:`.losses`; the estimators sit on top.
"""

from .blocks import PARTITIONS
from .estimators import BCDClassifier, BCDLabelPropagation, BCDRegressor
from .rules import RULES
from .updates import UPDATES

__all__ = ["BCDRegressor", "BCDClassifier", "BCDLabelPropagation", "RULES", "PARTITIONS",
           "UPDATES"]
