"""The ``random`` baseline: no pretraining, the backbone keeps its seeded random initialisation."""

from __future__ import annotations

from harness import hookimpl
from harness.pretext import Initialization
from harness.types import PretextSpec


class RandomInit(Initialization):
    """Random initialisation (torchvision's default init schemes, seeded by the run seed)."""

    def initialize(self) -> dict:
        return {"initialisation": "random", "arch": self.backbone.arch}


@hookimpl
def harness_pretexts():
    return [PretextSpec(name="random", summary="No pretraining: seeded random initialisation",
                        references=("baseline in Sheng et al., AAAI 2020, Table 2",), version="1",
                        defaults={}, factory=RandomInit)]
