"""Pfister et al. 2021's ranking pretext task: rank every edit of an image below the milder edits
and the unedited image (Eq. 1), over 21 technical, style and composition distortions."""

from __future__ import annotations

from harness import hookimpl
from harness.pretext_pfister_task import PfisterSettings, PfisterTask
from harness.types import PretextSpec

PFISTER = ("Pfister, Kobs & Hotho, Self-Supervised Multi-Task Pretraining Improves Image Aesthetic "
           "Assessment, CVPRW 2021, §3.3-4.3")
#: The quick profile (synthetic data, 2 CPU cores): 64 px, a random 3 of the 21 distortions per
#: batch (all their levels), a short run with a higher learning rate; see docs/pretexts.md.
QUICK = {"epochs": 2, "batch_size": 8, "image_size": 64, "lr": 3e-4, "max_images": 192,
         "distortions_per_step": 3, "precise_bn": 4}


class Ranking(PfisterTask):
    """Implements Eq. (1) of [Pfister et al. 2021]: one sigmoid score per image, margin ranking
    loss (m = 0.2) over all pairs of the same distortion and sign with |i| < |j|, level 0 included."""

    other = None


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="ranking", summary="Rank less distorted above more distorted variants (21 "
                                "aesthetic distortions, margin 0.2)",
        references=(f"{PFISTER}, Eq. 1", "Liu, van de Weijer & Bagdanov, RankIQA, ICCV 2017"),
        version="2", defaults=PfisterSettings, factory=Ranking, profiles={"quick": QUICK})]
