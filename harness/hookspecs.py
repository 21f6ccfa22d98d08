"""Every hook a plugin can implement. Each returns a list of frozen records from
:mod:`harness.types`; the registry validates them once at start-up.

Plugins are discovered through the entry-point group ``harness``. A package registers a module
(or object) holding ``@hookimpl`` functions::

    # pyproject.toml of your package
    [project.entry-points.harness]
    my_plugin = "my_package.harness_plugin"
"""

from __future__ import annotations

import pluggy

from harness.types import BackboneSpec, DatasetSpec, HeadSpec, PretextSpec

hookspec = pluggy.HookspecMarker("harness")


@hookspec
def harness_pretexts() -> list[PretextSpec]:
    """Called once when the plugin manager is built; returns the pretext tasks this plugin provides.

    Example::

        @hookimpl
        def harness_pretexts():
            return [PretextSpec(name="jigsaw", summary="Solve 3x3 jigsaw puzzles",
                                references=("Noroozi & Favaro, ECCV 2016",), version="0.1",
                                defaults=JigsawSettings, factory=JigsawPretext)]

    ``factory(backbone, settings)`` must return a :class:`harness.pretext.PretextTask`.
    """


@hookspec
def harness_heads() -> list[HeadSpec]:
    """Called once when the plugin manager is built; returns the heads this plugin provides.

    Example::

        @hookimpl
        def harness_heads():
            return [HeadSpec(name="mlp", summary="Two-layer MLP on pooled features, MSE on the mean",
                             references=(), version="0.1", defaults={"lr": 1e-3, "epochs": 10},
                             factory=MLPHead)]

    ``factory(backbone, settings, labels)`` must return a :class:`harness.head.Head`.
    """


@hookspec
def harness_datasets() -> list[DatasetSpec]:
    """Called once when the plugin manager is built; returns the datasets this plugin provides.

    Example::

        @hookimpl
        def harness_datasets():
            return [DatasetSpec(name="koniq", summary="KonIQ-10k (MOS, official split)",
                                references=("Hosu et al., TIP 2020",), version="0.1",
                                defaults={"root": ""}, factory=load_koniq)]

    ``factory(settings, purpose)`` must return a :class:`harness.data.Dataset`; ``purpose`` is
    ``"labelled"`` or ``"pretrain"``.
    """


@hookspec
def harness_backbones() -> list[BackboneSpec]:
    """Called once when the plugin manager is built; returns the backbones this plugin provides.

    Example::

        @hookimpl
        def harness_backbones():
            return [BackboneSpec(name="convnext_t", summary="ConvNeXt-T (timm)",
                                 references=("Liu et al., CVPR 2022",), version="0.1",
                                 defaults={"weights": None}, factory=build_convnext)]

    ``factory(settings)`` must return a :class:`harness.backbones.Backbone`.
    """
