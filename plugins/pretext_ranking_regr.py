"""Pfister et al. 2021's ranking + regression pretext task (their best on AVA): Eq. 1 plus the
intensity of the applied distortion, regressed at its own output only (Eq. 3), balanced by Eq. 5."""

from __future__ import annotations

from harness import hookimpl
from harness.pretext_pfister_task import PfisterSettings, PfisterTask
from harness.types import PretextSpec
from harness_plugins.pretext_ranking import PFISTER, QUICK


class RankingRegression(PfisterTask):
    """Implements Eq. (1), (3) and (5) of [Pfister et al. 2021]: the ranking loss plus the squared
    error between output d of 21 linear outputs and norm(i) (+i/n_pos, -i/n_neg; 0 for the
    reference) for an image with distortion d at level i; ``L = h(L_rank) + h(L_regr)``."""

    other = "regr"


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="ranking_regr", summary="Ranking + regression of the distortion's intensity, "
                                     "exp(L/T)-balanced (Pfister et al.'s best)",
        references=(f"{PFISTER}, Eq. 1, 3, 5",
                    "Liang & Zhang, A simple general approach to balance task difficulty in "
                    "multi-task learning, arXiv:2002.04792"),
        version="2", defaults=PfisterSettings, factory=RankingRegression,
        profiles={"quick": QUICK})]
