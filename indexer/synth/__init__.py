"""The built-in synthetic narrated egocentric corpus (``foley synth``).

Every quality figure of the project is measured on it, so it is hard the way real
egocentric video is: silent actions, off-screen sounds, scene ambience that correlates with
the look, paraphrased narrations, speech naming the visible object, camera shake, noise and
compression. ``catalogue`` holds the data (classes, scenes, queries); ``timeline`` plans a
video; ``motion``, ``picture``, ``sound``, ``ambience``, ``speech`` and ``soundtrack``
render it; ``corpus`` writes the files.
"""

from .catalogue import ACTIONS, QUERIES, SCENES
from .corpus import CorpusSummary, write_corpus

__all__ = ["ACTIONS", "QUERIES", "SCENES", "CorpusSummary", "write_corpus"]
