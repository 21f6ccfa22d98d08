"""aesthetic-pretext harness: which self-supervised pretext task gives the best initialisation for
Image Aesthetic Assessment, measured how, and is the difference real?"""

import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``from harness import hookimpl``.
hookimpl = pluggy.HookimplMarker("harness")

__all__ = ["__version__", "hookimpl"]
