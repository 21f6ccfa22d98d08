"""Pfister et al. 2021's ranking + classification pretext task: Eq. 1 plus a per-aspect
distortion classifier (Eq. 2), balanced by Eq. 4."""

from __future__ import annotations

from harness import hookimpl
from harness.pretext_pfister_task import PfisterSettings, PfisterTask
from harness.types import PretextSpec
from harness_plugins.pretext_ranking import PFISTER, QUICK


class RankingClassification(PfisterTask):
    """Implements Eq. (1), (2) and (4) of [Pfister et al. 2021]: the ranking loss plus softmax
    cross-entropy of three heads (technical 6, style 9, composition 6 outputs) on the index of the
    applied distortion within its aspect; ``L = h(L_rank) + h(L_class)``, h(L) = exp(L / 50)."""

    other = "class"


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="ranking_cls", summary="Ranking + per-aspect distortion classification, "
                                    "exp(L/T)-balanced",
        references=(f"{PFISTER}, Eq. 1, 2, 4",
                    "Liang & Zhang, A simple general approach to balance task difficulty in "
                    "multi-task learning, arXiv:2002.04792"),
        version="2", defaults=PfisterSettings, factory=RankingClassification,
        profiles={"quick": QUICK})]
