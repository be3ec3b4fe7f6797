"""The pose model run over a camera's regions, poses returned in frame pixels.

Six kinds of looks, each a call of the pose model on part of the frame:

* **regions** (every frame): one model instance per region (and one that sees
  it flipped, for turns, see below), because MediaPipe's VIDEO mode tracks a person from
  one call to the next inside an instance, so an instance must always see the
  same crop. Instances are kept while their region stays and closed when it goes.
* **follow-ups** (when needed): a person the tracker expects (seen in the last
  moments) whom no region found this frame gets a crop of his own, a square of
  ``FOLLOW_SIDE`` times his height around where he is expected, at a scale the
  model sees well; people big enough for the whole frame are followed in the
  whole frame instead (one call for all of them), unless the plan already is
  the whole frame: then, when the model found somebody else, each gets a crop
  with the people found blanked out. This keeps people the model lost for a
  frame, people outside the regions (found by a look around) and the second
  and third person of a group, whom the model's detector tends to suppress
  next to the first.
* **movers** (when needed): something moving in a region that no pose
  explains (a blob of the motion gate's mask, sized by what the camera knows of
  people's heights there) gets a follow-up crop of its own. The model's
  detector misses people it would see at a closer scale (small, bent, seen
  from the side, partly hidden); a crop of about two heights finds them, and
  once found the tracker's follow-ups keep them. Moving machinery the model
  finds nothing in costs a look every ``BARREN_RETRY_S`` after
  ``BARREN_AFTER`` empty looks, not one per frame; and all mover looks together
  are held to ``LOOK_RATE`` per frame on average. Not in a whole-frame plan:
  people are big enough in it, and its cost is the camera's budget.
* **turns** (when needed): a region in which a confirmed person is lost this
  frame (neither the region nor his follow-up found a pose of his size on him)
  is looked at once more, flipped left to right: the flip test of pose
  estimation. The model is not symmetric, and a bent or half-turned person it
  misses one way round it often finds the other way. Only the people lost
  count (a turn finds nobody new). When it finds him, the region is looked at
  flipped from then on (its own model, so VIDEO mode keeps following him) until
  it loses somebody, and then the right way round again: a region costs one
  call a frame whichever way round it is seen. Turns are held to
  ``TURN_LIMIT`` a frame and ``LOOK_RATE`` a frame on average, also in a
  whole-frame plan.
* **look-around** (every ``context_every_s``, 2 s): the whole frame, and each region
  with people in it, with the people already tracked blanked out. It finds
  whoever is not yet tracked: outside the regions, or hidden behind the person
  the model already follows (MediaPipe returns one pose per picture for people
  who stand close together). A whole-frame plan with nobody tracked skips it:
  the region already is the whole frame. Look-arounds that find nobody new
  come less often (the wait doubles, up to ``AROUND_BACKOFF`` times), until the
  people tracked change or one finds somebody.

Each pose comes back with the height of the picture it was found in, so that
plausibility rules that scale with the picture judge it against its crop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..abc import PoseEstimator
from . import boxes
from .pose import Pose
from .regions import SIDE_PER_HEIGHT, Box, RegionPlan
from .targets import (
    Expected,
    blank,
    covers,
    explains,
    follow_box,
    ghost_of_another,
    inside,
    is_him,
    losing,
    overlaps_crop,
    remains,
    shift,
)

FOLLOW_LIMIT = 8  # follow-ups per frame at most (bounded cost)
FOLLOW_SPARES = 2  # single-person models kept loaded for the next person followed
MOVER_LIMIT = 2  # mover looks per frame at most
TURN_LIMIT = 1  # looks at a region the other way round per frame at most
# ... and on average over time, movers and turns each: each frame the regions
# are looked at earns this share of a look, saved up to a burst (a newcomer or a person
# just lost gets looks at once; a camera where things move that the model never
# recognises, or where it keeps losing somebody, pays about a twentieth more, not double).
LOOK_RATE = 0.05
LOOK_BURST = 3.0
SAME_CROP = 0.6  # a mover crop overlapping a crop looked at this much adds nothing
BARREN_AFTER = 3  # empty looks at a moving thing before it is looked at less often
BARREN_RETRY_S = 1.0  # ... then once this often
BARREN_FORGET_S = 5.0
# A look-around that finds nobody new doubles the wait for the next, up to this many
# times context_every_s (the regions are sized to find whoever walks into them; the
# look-around is for people hidden behind others and for an early start outside).
AROUND_BACKOFF = 4.0


@dataclass(eq=False)
class _Barren:
    """A place where moving things were looked at and nobody was found."""

    box: np.ndarray
    t: float
    misses: int = 1


@dataclass
class _Allowance:
    """Looks earned at ``LOOK_RATE`` per frame, saved up to ``LOOK_BURST``."""

    saved: float = LOOK_BURST

    def earn(self) -> None:
        self.saved = min(self.saved + LOOK_RATE, LOOK_BURST)

    def whole(self, limit: int) -> int:
        return min(limit, int(self.saved))


@dataclass(frozen=True)
class Found:
    """The poses one model call found, in frame pixels, and where it looked."""

    box: Box
    poses: tuple[Pose, ...]
    kind: str = "region"  # region | follow | turn | mover | around

    @property
    def crop_height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class Looked:
    found: tuple[Found, ...]

    @property
    def calls(self) -> int:
        return len(self.found)

    def count(self, kind: str) -> int:
        return sum(f.kind == kind for f in self.found)

    def poses(self) -> list[Pose]:
        return [p for f in self.found for p in f.poses]


def to_frame(pose: Pose, box: Box, frame_size: tuple[int, int]) -> Pose:
    """A pose found in the crop ``box`` placed in the frame (exact: a shift)."""
    return Pose.from_arrays(pose.keypoints + (box[0], box[1]), pose.visibility, frame_size)


class RegionalEstimator:
    """``make()`` builds a pose model (MediaPipe in VIDEO mode); ``make(num_poses=1)``
    one that follows a single person; ``make(still=True)`` one that looks at each
    picture on its own (IMAGE mode).

    A model instance holds about 50 MB and four threads, so there are as few as the
    looks need: one per region (VIDEO mode follows people from call to call, so a
    region needs its own), its flipped twin only once somebody has been followed in
    it, one per person followed, and ONE still model for every one-off look (the
    look-arounds, the closer looks at what moves): they need no memory of the last
    call."""

    def __init__(self, make: Callable[..., PoseEstimator], context_every_s: float = 2.0) -> None:
        self._make = make
        self.context_every_s = context_every_s
        self._models: dict[Hashable, PoseEstimator] = {}
        self._still: PoseEstimator | None = None
        # Single-person models for follow-ups, reused from one person to the next:
        # loading a model takes a tenth of a second, too long to do per new person.
        self._spare: list[PoseEstimator] = []
        self._ready: list[PoseEstimator] = []  # a region's model, loaded before it is needed
        self._last_around: float | None = None
        self._around_wait = context_every_s  # grows while look-arounds find nobody new
        self._around_people: frozenset[int] = frozenset()  # confirmed people at the last one
        self._barren: list[_Barren] = []
        self._mover_looks = _Allowance()
        self._turn_looks = _Allowance()
        self._turned: set[Box] = set()  # regions looked at flipped left to right

    def prepare(self) -> None:
        """Load what the first frame needs, a region's model, before it comes: loading
        takes a tenth of a second, which the first decision after a start would
        otherwise wait for. (The look-arounds' model is loaded when one is first due:
        a camera restarted often must not load and free it each time for nothing.)"""
        if not self._ready:
            self._ready.append(self._make())

    def _model(self, key: Hashable, single: bool = False) -> PoseEstimator:
        if _is_one_off(key):
            if self._still is None:
                self._still = self._make(still=True)
            return self._still
        model = self._models.get(key)
        if model is None:
            if single:
                model = self._spare.pop() if self._spare else self._make(num_poses=1)
            else:
                model = self._ready.pop() if self._ready else self._make()
            self._models[key] = model
        return model

    def _release(self, key: Hashable) -> None:
        model = self._models.pop(key)
        single = isinstance(key, tuple) and key[0] == "follow" and key[1] != "frame"
        if single and len(self._spare) < FOLLOW_SPARES:
            self._spare.append(model)
        else:
            model.close()

    def estimate(
        self,
        image: np.ndarray,
        t: float,
        plan: RegionPlan,
        expected: Sequence[Expected] = (),
        regions: bool = True,
        movers: Sequence[np.ndarray] = (),
    ) -> Looked:
        """Look at this frame. ``regions=False`` (motion gating found the regions still
        and nobody tracked): only the look-around runs, if it is due, so that someone
        approaching from outside the regions is still found. ``movers``: boxes of
        about a person's size around moving blobs (frame pixels, largest first)."""
        h, w = image.shape[:2]
        size = (w, h)
        used: set[Hashable] = set()
        found: list[Found] = []

        def look(key: Hashable, box: Box, picture: np.ndarray, kind: str, single=False) -> None:
            used.add(key)
            model = self._model(key, single)
            if _is_turned(key):
                flipped = cv2.flip(picture, 1)  # a strided numpy copy takes 20 times longer
                poses = [
                    p.mirrored((box[2] - box[0], box[3] - box[1]))
                    for p in model.estimate(flipped, t)
                ]
            else:
                poses = model.estimate(picture, t)
            found.append(Found(box, tuple(to_frame(p, box, size) for p in poses), kind))

        self._turned &= {r.box for r in plan.regions}
        for region in plan.regions if regions else ():
            view = ("turned" if region.box in self._turned else "region", region.box)
            look(view, region.box, _crop(image, region.box), "region")
            # Its flipped model is made as soon as somebody is followed in it, before he
            # can be lost: a turn must not wait a tenth of a second for a model to load
            # (nor add threads then). A region nobody has been in needs none.
            if any(e.confirmed and inside(e.box, region.box) for e in expected):
                self._model(("turned", region.box))

        seen = [p.bbox for f in found for p in f.poses]

        def look_again(key: Hashable, box: Box, picture: np.ndarray, kind: str, single) -> bool:
            """A second look (a crop): what it finds near someone already seen is him
            again and is dropped; True when it found somebody new."""
            look(key, box, picture, kind, single)
            last = found[-1]
            keep = tuple(p for p in last.poses if not any(covers(b, p.bbox) for b in seen))
            found[-1] = Found(last.box, keep, last.kind)
            seen.extend(p.bbox for p in keep)
            return bool(keep)

        missing = [
            e for e in expected
            if not any(covers(b, e.box) for b in seen) and not ghost_of_another(e, expected)
        ]  # fmt: skip
        # People big enough for the whole frame are followed in it (one call for all of
        # them); smaller ones each in a crop of their own. In a whole-frame plan the
        # region already was the whole frame: there the big ones missing get a crop
        # only when the model found somebody else (it tends to return one of several
        # people standing close together, and a crop with that one blanked out finds
        # the next); when it found nobody, the same pixels cropped rarely do better.
        big = max(w, h) / SIDE_PER_HEIGHT
        whole = [e for e in missing if e.box[3] - e.box[1] >= big]
        crops = [e for e in missing if e.box[3] - e.box[1] < big]
        if plan.full_frame:
            crops += whole if seen else []
            whole = []
        follows: list[tuple[Hashable, Box, list]] = (
            [(("follow", "frame"), (0, 0, w, h), list(seen))] if whole else []
        )
        for e in sorted(crops, key=lambda e: not e.confirmed):
            box = follow_box(e.box, size)
            if box is not None:
                # The others in his crop are blanked out: the model, finding one person
                # per picture, must find him and not his neighbour.
                others = [o.box for o in expected if o.id != e.id] + list(seen)
                follows.append((("follow", e.id), box, [shift(b, box) for b in others]))
        for key, box, others in follows[: FOLLOW_LIMIT if regions else 0]:
            crop = _crop(image, box)
            if others:
                crop = blank(crop, [b for b in others if overlaps_crop(b, box)])
            look_again(key, box, crop, "follow", single=key != ("follow", "frame"))

        if regions:
            self._turn_looks.earn()
            turns = self._turn_looks.whole(TURN_LIMIT)
            for region, lost in losing(plan, expected, seen):
                if region.box in self._turned:
                    self._turned.discard(region.box)  # flipped lost him: back from the next frame
                    continue
                if turns < 1:
                    continue
                turns -= 1
                self._turn_looks.saved -= 1
                look(("turned", region.box), region.box, _crop(image, region.box), "turn")
                # Only the people it lost: the other way round is a second chance to see
                # them, not a way to find new people (the look-arounds do that).
                last = found[-1]
                keep = tuple(
                    p for p in last.poses
                    if any(is_him(p.bbox, e.box) for e in lost)
                    and not any(is_him(b, p.bbox) for b in seen)  # found already
                )  # fmt: skip
                found[-1] = Found(last.box, keep, last.kind)
                seen.extend(p.bbox for p in keep)
                if keep:
                    self._turned.add(region.box)  # looked at flipped until it loses somebody

            self._mover_looks.earn()
            # Only the people found this frame explain motion: an expected person whose
            # follow-up came back empty gets a second look at the moving blob's scale.
            followed = [f.box for f in found if f.kind == "follow"]
            for slot, box in enumerate(self._movers_to_look(movers, plan, seen, followed, t, size)):
                crop = blank(_crop(image, box), [shift(b, box) for b in seen])
                new = look_again(("mover", slot), box, crop, "mover", single=True)
                self._note_mover(box, new, t)
                self._mover_looks.saved -= 1

        people = frozenset(e.id for e in expected if e.confirmed)
        if plan.regions and self._around_due(t, people) and (not plan.full_frame or expected):
            known = [e.box for e in expected] + [p.bbox for f in found for p in f.poses]
            for region in plan.regions:
                if region.kind != "full" and any(inside(b, region.box) for b in known):
                    crop = blank(_crop(image, region.box), [shift(b, region.box) for b in known])
                    look(("around", region.box), region.box, crop, "around")
            look(("around", "frame"), (0, 0, w, h), blank(image, known), "around")
            found = [
                f if f.kind != "around" else
                Found(f.box, tuple(p for p in f.poses if not remains(p.bbox, known)), f.kind)
                for f in found
            ]  # fmt: skip
            new = any(
                not any(covers(p.bbox, b) for b in known)
                for f in found if f.kind == "around" for p in f.poses
            )  # fmt: skip
            self._around_wait = (
                self.context_every_s
                if new
                else min(2 * self._around_wait, AROUND_BACKOFF * self.context_every_s)
            )

        for key in [k for k in self._models if k not in used and not _kept(k, plan, expected)]:
            self._release(key)
        return Looked(tuple(found))

    def _movers_to_look(
        self,
        movers: Sequence[np.ndarray],
        plan: RegionPlan,
        known: Sequence[np.ndarray],
        looked: Sequence[Box],
        t: float,
        size: tuple[int, int],
    ) -> list[Box]:
        """Crops for moving things inside a region that no person found this frame
        explains, bounded per frame, not the crops just looked at (``looked``), skipping
        places that keep giving nothing."""
        self._barren = [b for b in self._barren if t - b.t <= BARREN_FORGET_S]
        if plan.full_frame:
            # The plan is the whole frame because people are big enough in it: a
            # closer look is for regions that shrink them (and the whole frame's cost
            # is the budget a camera without small people keeps).
            return []
        out: list[Box] = []
        for mover in movers:
            if len(out) >= self._mover_looks.whole(MOVER_LIMIT):
                break
            holding = [r for r in plan.regions if inside(mover, r.box)]
            if not holding or any(explains(k, mover) for k in known):
                continue
            box = follow_box(mover, size)
            if box is None or any(boxes.area(box) >= 0.8 * boxes.area(r.box) for r in holding):
                continue  # as big as the region: the model just looked at that
            if any(boxes.iou(box, b) >= SAME_CROP for b in [*out, *looked]):
                continue
            if any(
                b.misses >= BARREN_AFTER and t - b.t < BARREN_RETRY_S and covers(b.box, mover)
                for b in self._barren
            ):
                continue
            out.append(box)
        return out

    def _note_mover(self, box: Box, found: bool, t: float) -> None:
        here = np.array(box, float)
        near = [b for b in self._barren if covers(b.box, here)]
        if found:
            self._barren = [b for b in self._barren if b not in near]
        elif near:
            near[0].box, near[0].t, near[0].misses = here, t, near[0].misses + 1
        else:
            self._barren.append(_Barren(here, t))

    def _around_due(self, t: float, people: frozenset[int]) -> bool:
        """Every context_every_s; after look-arounds that found nobody new, less often
        (twice the wait each time, up to AROUND_BACKOFF times), until the people
        tracked change (someone new, someone lost: when somebody may be hidden or
        about to come) or a look-around finds somebody."""
        if self.context_every_s <= 0:
            return False
        if people != self._around_people:
            self._around_wait = self.context_every_s
        if self._last_around is not None and t - self._last_around < self._around_wait:
            return False
        self._last_around, self._around_people = t, people
        return True

    def close(self) -> None:
        still = [self._still] if self._still is not None else []
        for model in [*self._models.values(), *self._spare, *self._ready, *still]:
            model.close()
        self._models.clear()
        self._spare.clear()
        self._ready.clear()
        self._still = None


def _crop(image: np.ndarray, box: Box) -> np.ndarray:
    """A view of the box: no copy (the model's colour conversion, cv2.flip and blank()
    each make one of their own, and OpenCV reads a view with its row stride)."""
    x0, y0, x1, y1 = box
    return image[y0:y1, x0:x1]


def _is_one_off(key: Hashable) -> bool:
    """A look with no memory of the last one (the still model's)."""
    return isinstance(key, tuple) and key[0] in ("around", "mover")


def _is_turned(key: Hashable) -> bool:
    """A region's model that sees it flipped left to right."""
    return isinstance(key, tuple) and key[0] == "turned"


def _kept(key: Hashable, plan: RegionPlan, expected: Sequence[Expected]) -> bool:
    """Models not used this frame that stay: a region's models (either way round,
    look-around) while its region stays (also on frames motion gating skipped), a
    follow-up model while its person is tracked."""
    if not isinstance(key, tuple):
        return False
    kind, what = key
    if kind in ("region", "turned", "around"):
        return what == "frame" or any(r.box == what for r in plan.regions)
    if kind == "follow":
        return what == "frame" or any(e.id == what for e in expected)
    return False
