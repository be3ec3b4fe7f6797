"""Body-part vocabulary: the 33 MediaPipe pose landmarks and the groups zones use.

Zone files name body parts either by group (``feet``, ``hands``, ``head``,
``torso``, ``any``) or by landmark name; this module turns either into landmark
indices, and says which estimate stands in for a group when none of its
landmarks is visible (feet hidden behind a cart must not silence a zone).
"""

from __future__ import annotations

from enum import StrEnum

# Order matches MediaPipe's PoseLandmark enum: index i is LANDMARKS[i].
LANDMARKS: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
NUM_LANDMARKS = len(LANDMARKS)
INDEX = {name: i for i, name in enumerate(LANDMARKS)}


def _other_side(name: str) -> str:
    for a, b in (("left", "right"), ("right", "left")):
        if a in name:
            return name.replace(a, b)
    return name


# Landmark i of a pose found in a picture flipped left to right is landmark
# MIRRORED[i] of the person (the flipped picture's left wrist is his right one).
MIRRORED: tuple[int, ...] = tuple(INDEX[_other_side(name)] for name in LANDMARKS)


class Fallback(StrEnum):
    """Where a group is estimated from the person's box when its landmarks are hidden."""

    BBOX_BOTTOM_CENTRE = "bbox_bottom_centre"  # feet stand on the box's bottom edge
    BBOX_TOP_CENTRE = "bbox_top_centre"  # the head is at the top of the box
    BBOX_CENTRE = "bbox_centre"  # torso, and hands when both are hidden
    BBOX_CORNERS = "bbox_corners"  # "any": every extreme of the person


def _idx(*names: str) -> tuple[int, ...]:
    return tuple(INDEX[n] for n in names)


GROUPS: dict[str, tuple[int, ...]] = {
    "feet": _idx(
        "left_ankle",
        "right_ankle",
        "left_heel",
        "right_heel",
        "left_foot_index",
        "right_foot_index",
    ),
    "hands": _idx(
        "left_wrist",
        "right_wrist",
        "left_pinky",
        "right_pinky",
        "left_index",
        "right_index",
        "left_thumb",
        "right_thumb",
    ),
    "head": tuple(range(0, 11)),
    "torso": _idx("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    "any": tuple(range(NUM_LANDMARKS)),
}

FALLBACKS: dict[str, Fallback] = {
    "feet": Fallback.BBOX_BOTTOM_CENTRE,
    "hands": Fallback.BBOX_CENTRE,
    "head": Fallback.BBOX_TOP_CENTRE,
    "torso": Fallback.BBOX_CENTRE,
    "any": Fallback.BBOX_CORNERS,
}

# How each estimate was made, in words for the operator (the incident page).
ESTIMATED_FROM: dict[Fallback, str] = {
    Fallback.BBOX_BOTTOM_CENTRE: "the bottom centre of the person's box",
    Fallback.BBOX_TOP_CENTRE: "the top centre of the person's box",
    Fallback.BBOX_CENTRE: "the centre of the person's box",
    Fallback.BBOX_CORNERS: "the corners of the person's box",
}

FOOT_LANDMARKS = frozenset(GROUPS["feet"])
VALID_NAMES: tuple[str, ...] = tuple(GROUPS) + LANDMARKS


def resolve(parts: tuple[str, ...]) -> tuple[int, ...]:
    """Landmark indices selected by group and landmark names (sorted, unique).

    Names must already be valid (see ``VALID_NAMES``); zone validation checks them.
    """
    selected: set[int] = set()
    for part in parts:
        selected.update(GROUPS.get(part, (INDEX[part],) if part in INDEX else ()))
    return tuple(sorted(selected))


def fallback_for(parts: tuple[str, ...]) -> Fallback:
    """The stand-in estimate for a selection whose landmarks are all hidden.

    A single explicit landmark falls back like the group it belongs to, so a zone
    watching ``left_ankle`` still alarms when the ankle is occluded.
    """
    for part in parts:
        if part in FALLBACKS:
            return FALLBACKS[part]
    for part in parts:
        for group in ("feet", "hands", "head", "torso"):
            if INDEX.get(part) in GROUPS[group]:
                return FALLBACKS[group]
    return Fallback.BBOX_CORNERS


def label(index: int) -> str:
    return LANDMARKS[index]


# Skeleton edges for drawing (the standard 33-point pose topology).
SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)  # fmt: skip
