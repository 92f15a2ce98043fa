"""What the synthetic corpus is made of: action classes, scenes, off-screen sounds, queries.

Pure data. How an object moves lives in ``motion.py``, how it looks in ``picture.py`` and how
it sounds in ``sound.py``; each looks its class up here by the names below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Part:
    """One filled primitive of a sprite, in sprite pixels (origin = where the hand grips)."""

    shape: Literal["ellipse", "rect", "tri"]
    cx: float
    cy: float
    w: float
    h: float
    colour: RGB
    angle: float = 0.0  # degrees, counter-clockwise


Sprite = tuple[Part, ...]


@dataclass(frozen=True)
class ActionClass:
    """A visible action: its objects, motion, sound and the ways a narrator words it."""

    name: str  # the label's `action` string
    sounding: bool
    scene: str | None  # preferred scene (~70% of occurrences); None = any scene
    motion: str  # a kind in motion.MOTIONS
    sound: str | None  # a kind in sound.ACTION_SOUNDS; None for silent actions
    pitch: float  # the sound's base frequency (Hz); instances vary it
    word: str  # the object's name, said aloud in speech segments
    base: Sprite  # drawn still at the anchor (board, door, keyboard, branch, ...)
    tool: Sprite  # drawn moving (knife, hammer, bell, bird, ...); may be empty
    tool_at: tuple[float, float]  # tool origin relative to the anchor
    hand: bool  # a skin-coloured arm reaches in from the bottom of the frame
    templates: tuple[str, ...]  # Ego4D-style narrations, >= 4 paraphrases


def _e(cx, cy, w, h, colour, angle=0.0) -> Part:
    return Part("ellipse", cx, cy, w, h, colour, angle)


def _r(cx, cy, w, h, colour, angle=0.0) -> Part:
    return Part("rect", cx, cy, w, h, colour, angle)


def _t(cx, cy, w, h, colour, angle=0.0) -> Part:
    return Part("tri", cx, cy, w, h, colour, angle)


BOARD = _r(0, 4, 44, 22, (176, 132, 80))
KNIFE = (_r(0, 0, 8, 4, (40, 30, 25)), _r(-13, 0, 18, 5, (205, 210, 215)))  # blade left of grip
PLANK = _r(0, 6, 50, 12, (196, 150, 96))
BRANCH = _r(0, 10, 48, 5, (92, 64, 40), -6)
SILVER = (190, 195, 205)

ACTIONS: tuple[ActionClass, ...] = (
    # -- kitchen ------------------------------------------------------------------------
    ActionClass(
        "chop onion",
        True,
        "kitchen",
        "chop",
        "chop",
        170.0,
        "onion",
        (BOARD, _e(8, 0, 16, 14, (178, 110, 170)), _e(8, -1, 8, 7, (225, 200, 225))),
        KNIFE,
        (20, -9),
        True,
        (
            "#C C chops the onion",
            "#C C cuts an onion on the board",
            "#C C slices onion pieces with a knife",
            "#C C dices the onion on the board",
            "#C C cuts the onion into pieces",
        ),
    ),
    ActionClass(
        "chop carrot",
        True,
        "kitchen",
        "chop",
        "chop",
        290.0,
        "carrot",
        (BOARD, _r(6, 0, 26, 6, (240, 120, 20)), _t(21, 0, 6, 8, (60, 150, 50), -90)),
        KNIFE,
        (20, -9),
        True,
        (
            "#C C chops the carrot",
            "#C C cuts a carrot on the board",
            "#C C slices carrot pieces with a knife",
            "#C C dices the carrot",
            "#C C cuts the carrot into rounds",
        ),
    ),
    ActionClass(
        "pour water",
        True,
        "kitchen",
        "pour",
        "pour",
        700.0,
        "water",
        (_e(10, 8, 30, 16, (70, 70, 78)), _e(10, 4, 24, 8, (40, 90, 170))),
        (_r(0, 0, 12, 20, (60, 140, 220)), _t(7, -9, 6, 6, (60, 140, 220), -90)),
        (-6, -22),
        True,
        (
            "#C C pours water into the pot",
            "#C C fills the pot from a jug",
            "#C C tips the jug over the pan",
            "#C C empties the jug into the pan",
            "#C C adds water to the pan",
        ),
    ),
    ActionClass(
        "stir pot",
        True,
        "kitchen",
        "stir",
        "stir",
        2100.0,
        "pot",
        (_e(0, 4, 40, 24, (85, 85, 92)), _e(0, 2, 32, 16, (150, 90, 40))),
        (_r(0, 10, 4, 22, (210, 170, 110)), _e(0, 21, 8, 6, (210, 170, 110))),
        (0, -22),
        True,
        (
            "#C C stirs the pot",
            "#C C mixes the stew in the pan with a spoon",
            "#C C stirs the pan",
            "#C C turns the spoon in the pot",
            "#C C mixes the stew",
        ),
    ),
    # -- workshop -----------------------------------------------------------------------
    ActionClass(
        "hammer nail",
        True,
        "workshop",
        "hammer",
        "hammer",
        930.0,
        "nail",
        (PLANK, _r(6, -1, 2, 8, SILVER)),
        (_r(12, 0, 24, 4, (150, 90, 40)), _r(25, 0, 8, 14, (90, 92, 100))),
        (-19, -12),
        True,
        (
            "#C C hammers a nail",
            "#C C hits the nail with a hammer",
            "#C C drives the nail into the plank",
            "#C C strikes the nail on the board",
            "#C C knocks a nail into the wood",
        ),
    ),
    ActionClass(
        "saw wood",
        True,
        "workshop",
        "saw",
        "saw",
        1900.0,
        "saw",
        (PLANK, _r(0, 6, 3, 12, (120, 80, 40))),
        (_r(-16, 0, 10, 8, (200, 40, 40)), _r(4, 1, 30, 7, SILVER), _r(4, 5, 30, 1, (90, 90, 95))),
        (0, -4),
        True,
        (
            "#C C saws the plank",
            "#C C cuts the wood with a saw",
            "#C C saws through a board",
            "#C C cuts a plank on the table",
            "#C C moves the saw across the wood",
        ),
    ),
    ActionClass(
        "shake jar",
        True,
        "workshop",
        "shake",
        "rattle",
        4200.0,
        "jar",
        (),
        (
            _r(0, -12, 16, 22, (200, 225, 230)),
            _r(0, -24, 17, 4, (200, 60, 50)),
            _e(0, -8, 12, 10, (120, 110, 90)),
        ),
        (0, 8),
        True,
        (
            "#C C shakes the jar of screws",
            "#C C rattles the jar",
            "#C C shakes a jar in the hand",
            "#C C jiggles the jar of screws",
        ),
    ),
    # -- street -------------------------------------------------------------------------
    ActionClass(
        "ring bell",
        True,
        "street",
        "swing",
        "bell",
        820.0,
        "bell",
        (),
        (
            _r(0, 4, 4, 12, (60, 40, 30)),
            _t(0, 19, 24, 20, (220, 180, 40)),
            _e(0, 30, 6, 5, (150, 110, 20)),
        ),
        (0, -24),
        True,
        (
            "#C C rings the bell",
            "#C C jingles the small bell",
            "#C C swings the bell by its handle",
            "#C C rings a bell on the table",
            "#C C rings the hand bell",
        ),
    ),
    ActionClass(
        "blow whistle",
        True,
        "street",
        "blow",
        "whistle",
        2900.0,
        "whistle",
        (),
        (_r(0, 0, 16, 8, SILVER), _e(6, 2, 10, 10, SILVER), _r(-10, 0, 6, 4, (30, 30, 30))),
        (0, -20),
        True,
        (
            "#C C blows the whistle",
            "#C C whistles with a whistle",
            "#C C blows into the whistle",
            "#C C toots the whistle",
            "#C C puts the whistle to the mouth and blows",
        ),
    ),
    ActionClass(
        "knock door",
        True,
        "street",
        "knock",
        "knock",
        105.0,
        "door",
        (
            _r(0, -6, 36, 56, (120, 60, 35)),
            _r(0, -6, 28, 48, (140, 75, 45)),
            _e(10, -4, 4, 4, (210, 180, 60)),
        ),
        (),
        (0, 0),
        True,
        (
            "#C C knocks on the door",
            "#C C taps on the door with a fist",
            "#C C raps the door",
            "#C C bangs on the door",
            "#C C knocks at the front door",
        ),
    ),
    # -- garden -------------------------------------------------------------------------
    ActionClass(
        "lark sings",
        True,
        "garden",
        "chirp",
        "lark",
        3400.0,
        "lark",
        (BRANCH,),
        (
            _e(0, 0, 16, 10, (150, 110, 70)),
            _e(8, -4, 8, 7, (160, 120, 80)),
            _t(13, -4, 4, 5, (230, 190, 40), -90),
            _t(-10, 1, 6, 8, (120, 90, 60), 90),
            _e(9, -5, 2, 2, (10, 10, 10)),
        ),
        (0, 2),
        False,
        (
            "#C C watches the lark sing",
            "#C C looks at a lark on the branch",
            "#C C listens to the lark",
            "#C C sees the lark sing on the fence",
        ),
    ),
    ActionClass(
        "owl hoots",
        True,
        "garden",
        "hoot",
        "owl",
        390.0,
        "owl",
        (BRANCH,),
        (
            _e(0, 0, 20, 26, (130, 110, 90)),
            _e(0, 4, 12, 14, (200, 185, 160)),
            _e(-5, -7, 7, 7, (245, 240, 220)),
            _e(5, -7, 7, 7, (245, 240, 220)),
            _e(-5, -7, 3, 3, (20, 20, 20)),
            _e(5, -7, 3, 3, (20, 20, 20)),
            _t(-7, -14, 5, 6, (110, 90, 70)),
            _t(7, -14, 5, 6, (110, 90, 70)),
        ),
        (0, -10),
        False,
        (
            "#C C watches the owl hoot",
            "#C C looks at an owl on the branch",
            "#C C listens to the owl hoot",
            "#C C sees the owl on the fence",
        ),
    ),
    ActionClass(
        "sweep floor",
        True,
        "garden",
        "sweep",
        "sweep",
        600.0,
        "broom",
        (),
        (
            _r(0, 2, 3, 30, (160, 120, 70)),
            _r(0, 20, 26, 9, (200, 170, 60)),
            _r(0, 26, 28, 5, (170, 140, 50)),
        ),
        (0, -14),
        True,
        (
            "#C C sweeps the floor",
            "#C C brushes the path with a broom",
            "#C C sweeps leaves off the path",
            "#C C moves the broom across the floor",
        ),
    ),
    # -- office -------------------------------------------------------------------------
    ActionClass(
        "type keyboard",
        True,
        "office",
        "type",
        "keys",
        1500.0,
        "keyboard",
        (
            _r(0, 0, 50, 18, (55, 58, 66)),
            _r(0, -3, 44, 4, (150, 155, 165)),
            _r(0, 3, 44, 4, (150, 155, 165)),
        ),
        (),
        (0, 0),
        True,
        (
            "#C C types on the keyboard",
            "#C C presses the keys",
            "#C C writes an email on the laptop keyboard",
            "#C C taps the keyboard keys",
            "#C C types a message",
        ),
    ),
    ActionClass(
        "crumple paper",
        True,
        "office",
        "crumple",
        "crackle",
        2500.0,
        "paper",
        (),
        (
            _r(0, 0, 24, 28, (240, 240, 235), 8),
            _r(3, -3, 16, 2, (150, 150, 160), 8),
            _r(3, 3, 16, 2, (150, 150, 160), 8),
        ),
        (0, 0),
        True,
        (
            "#C C crumples the paper",
            "#C C crushes a sheet of paper",
            "#C C balls up the paper",
            "#C C squeezes the paper in the hand",
            "#C C wads up a sheet of paper",
        ),
    ),
    ActionClass(
        "zip bag",
        True,
        "office",
        "zip",
        "zipper",
        260.0,
        "bag",
        (_r(0, 4, 54, 30, (40, 90, 60)), _r(0, -8, 50, 3, (20, 30, 25))),
        (_r(0, 0, 5, 9, SILVER),),
        (-20, -8),
        True,
        (
            "#C C zips the bag",
            "#C C closes the zip of the bag",
            "#C C pulls the zipper on the backpack",
            "#C C unzips the bag",
        ),
    ),
    # -- silent: visible, no sound, any scene ---------------------------------------------
    ActionClass(
        "look at map",
        False,
        None,
        "hold",
        None,
        0.0,
        "map",
        (),
        (
            _r(0, 0, 56, 40, (225, 210, 160)),
            _r(-8, -4, 30, 3, (60, 120, 200), 20),
            _r(10, 6, 20, 3, (200, 60, 60), -35),
            _e(12, -8, 8, 8, (90, 160, 80)),
        ),
        (0, -10),
        True,
        (
            "#C C looks at the map",
            "#C C studies the map",
            "#C C holds up a map",
            "#C C checks the route on the map",
        ),
    ),
    ActionClass(
        "hold cloth",
        False,
        None,
        "sway",
        None,
        0.0,
        "cloth",
        (),
        (
            _r(0, 10, 26, 26, (70, 160, 200)),
            _r(0, 10, 26, 4, (230, 230, 240)),
            _r(0, 18, 26, 4, (230, 230, 240)),
        ),
        (0, -12),
        True,
        (
            "#C C holds the cloth",
            "#C C picks up a towel",
            "#C C holds a rag in the hand",
            "#C C lifts the cloth from the table",
        ),
    ),
    ActionClass(
        "point at sign",
        False,
        None,
        "point",
        None,
        0.0,
        "sign",
        (
            _r(0, 0, 3, 40, (120, 120, 125)),
            _r(0, -18, 30, 16, (30, 140, 70)),
            _r(0, -18, 22, 3, (240, 240, 240)),
        ),
        (),
        (-24, -12),
        True,
        (
            "#C C points at the sign",
            "#C C points to the board on the pole",
            "#C C gestures at the sign",
            "#C C indicates the signpost",
        ),
    ),
    ActionClass(
        "read note",
        False,
        None,
        "raise",
        None,
        0.0,
        "note",
        (),
        (
            _r(0, 0, 22, 22, (250, 230, 90), -6),
            _r(0, -4, 16, 2, (70, 70, 90), -6),
            _r(0, 2, 14, 2, (70, 70, 90), -6),
        ),
        (0, -14),
        True,
        (
            "#C C reads the note",
            "#C C reads a sticky note",
            "#C C looks at the note in the hand",
            "#C C glances at a paper note",
        ),
    ),
)

ACTION_BY_NAME = {a.name: a for a in ACTIONS}
SOUNDING = tuple(a for a in ACTIONS if a.sounding)
SILENT = tuple(a for a in ACTIONS if not a.sounding)

# scene -> ambient bed, described (ambience.py synthesises it, picture.py paints the look)
SCENES: dict[str, str] = {
    "kitchen": "fridge hum and distant clatter over tiles and a counter",
    "street": "traffic rumble and an occasional horn over asphalt with lane stripes",
    "workshop": "machine drone over wood planks",
    "garden": "wind and rustling leaves over grass",
    "office": "air-conditioning hiss and hum over a carpet and desk",
}

# sounds with no visible source; none of them is an action class
OFFSCREEN = ("dog bark", "siren", "phone ring", "door slam", "glass shatter")

# text queries whose content words never occur in any narration, with the classes they find
QUERIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("slicing vegetables", ("chop onion", "chop carrot")),
    ("preparing vegetables with a blade", ("chop onion", "chop carrot")),
    ("kitchen sounds", ("chop onion", "chop carrot", "pour water", "stir pot")),
    ("meal preparation", ("chop onion", "chop carrot", "pour water", "stir pot")),
    ("a woodworking tool", ("hammer nail", "saw wood")),
    ("carpentry", ("hammer nail", "saw wood")),
    ("lumber", ("saw wood",)),
    ("a bird", ("lark sings", "owl hoots")),
    ("birdsong", ("lark sings",)),
    ("nocturnal bird", ("owl hoots",)),
    ("metal clanging", ("hammer nail", "ring bell")),
    ("chime", ("ring bell",)),
    ("liquid splashing", ("pour water",)),
    ("cooking soup", ("stir pot",)),
    ("visitor at the entrance", ("knock door",)),
    ("computer work", ("type keyboard",)),
    ("referee signal", ("blow whistle",)),
    ("rubbish scrunching", ("crumple paper",)),
    ("fastening luggage", ("zip bag",)),
    ("percussion shaker", ("shake jar",)),
    ("cleaning dust away", ("sweep floor",)),
)

STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "on",
        "in",
        "into",
        "to",
        "at",
        "by",
        "for",
        "from",
        "with",
        "and",
        "or",
        "its",
        "his",
        "her",
        "up",
        "off",
        "c",
        "is",
        "be",
    }
)


def content_words(text: str) -> set[str]:
    """Lower-cased letter runs minus stopwords: the words a text search could match on."""
    return {w for w in re.split(r"[^a-z]+", text.lower()) if w and w not in STOPWORDS}


def check_queries(narrations: Iterable[str] = ()) -> None:
    """Raise ValueError if a query shares a content word with a narration, or names a class
    that is silent or unknown.

    Checked against every template (so against any corpus) and against ``narrations``.
    Words are compared exactly ("slicing" vs "slices" is allowed), so a text search cannot
    answer a query by string match; it needs to know what the words mean.
    """
    texts = [t for a in ACTIONS for t in a.templates] + list(narrations)
    narration_words = set().union(*(content_words(t) for t in texts))
    for text, actions in QUERIES:
        shared = content_words(text) & narration_words
        if shared:
            raise ValueError(f"query {text!r} shares {sorted(shared)} with the narrations")
        for name in actions:
            if name not in ACTION_BY_NAME or not ACTION_BY_NAME[name].sounding:
                raise ValueError(f"query {text!r} names {name!r}, not a sounding class")
