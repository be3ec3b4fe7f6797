"""Multi-person tracking: stable ids, smoothed landmarks and their velocities.

Pure: ``Tracker.update(poses, t)`` with the frame time passed in, no threads,
no clock of its own. A track is *tentative* until it has been seen
``confirm_hits`` times (one-frame flickers never become people), *confirmed*
after that, *lost* while unseen, and deleted after ``max_lost_s`` unseen
(a tentative one after a few frames).

Association is a cascade (as in DeepSORT/ByteTrack), each step an optimal
assignment (``scipy.optimize.linear_sum_assignment``):

1. confirmed tracks, seen or lost, take the detections that fit them best on
   a cost mixing box overlap and landmark distance after prediction;
2. tentative tracks take what is left;
3. a lost confirmed track takes back a detection whose centre is within
   ``REID_DISTANCE`` of its own height from where it is predicted to be and
   whose size is similar: a person the model missed for a while keeps his id.

Every landmark has a constant-velocity alpha-beta filter (position gain
alpha, velocity gain beta): it smooths the model's jitter and gives each
body part its own velocity, so that a hand reaching forward is seen moving
even when the body stands still.

A lost track coasts with bounded, sane geometry: for the first
``LIMB_PREDICT_S`` each landmark follows its own velocity, after that the
whole body moves rigidly with its median velocity (capped at
``MAX_SPEED_HEIGHTS`` body heights per second), and it stops after
``MAX_COAST_S``. Its box keeps its size and moves with the body, so it can
never turn upside down; a skeleton cannot fly off on one bad limb velocity.

The model sometimes sees a small "person" in the folds of a coat; a tentative
track whose box lies inside a confirmed person's box and is less than half his
height is not confirmed while that person is tracked (the same rule the
plausibility filter applies within one frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import boxes
from .plausibility import is_figure_within
from .pose import Pose

TrackState = Literal["tentative", "confirmed", "lost"]
_BIG = 1e6
LIMB_PREDICT_S = 0.3  # per-landmark prediction horizon: one frame gap at ≥ 3.3 fps
MAX_COAST_S = 1.0  # a lost track stops moving after this long unseen
MAX_SPEED_HEIGHTS = 3.0  # body heights per second: faster than anyone walks or runs
REID_DISTANCE = 1.0  # in body heights, from the predicted centre
SIZE_CHANGE = 2.0  # a person does not halve or double in size between frames
TENTATIVE_LOST_S = 0.35  # an unconfirmed track unseen this long was a flicker


@dataclass(frozen=True, eq=False)
class Track:
    id: int
    state: TrackState
    keypoints: np.ndarray  # (33, 2) smoothed pixels
    velocity: np.ndarray  # (33, 2) pixels per second
    visibility: np.ndarray  # (33,) from the last detection
    bbox: np.ndarray  # (4,) x0, y0, x1, y1 of the last detection (clipped to the frame)
    seen: bool  # matched to a detection in this frame
    hits: int
    age_s: float  # since first seen
    since_seen_s: float

    @property
    def confirmed(self) -> bool:
        return self.state != "tentative"


@dataclass
class _Live:
    id: int
    keypoints: np.ndarray
    velocity: np.ndarray
    visibility: np.ndarray
    bbox: np.ndarray
    first_t: float
    last_t: float
    hits: int = 1
    confirmed: bool = False
    seen: bool = True
    _predicted: tuple | None = field(default=None, repr=False)

    def body_velocity(self, threshold: float) -> np.ndarray:
        """The median velocity of the seen landmarks, capped at a human speed."""
        seen = self.visibility >= threshold
        v = np.median(self.velocity[seen] if seen.any() else self.velocity, axis=0)
        limit = MAX_SPEED_HEIGHTS * boxes.height(self.bbox)
        speed = float(np.hypot(*v))
        return v * (limit / speed) if speed > limit else v

    def predict(self, t: float, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        # Asked for again and again in one frame (the regions' expectations, each
        # pairing's cost): computed once per frame time and sighting (every change
        # to the track is a sighting, which counts a hit).
        key = (t, threshold, self.hits)
        if self._predicted is None or self._predicted[0] != key:
            self._predicted = (key, self._predict(t, threshold))
        return self._predicted[1]

    def _predict(self, t: float, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        dt = max(t - self.last_t, 0.0)
        limb_dt = min(dt, LIMB_PREDICT_S)
        body_dt = min(dt, MAX_COAST_S) - limb_dt
        body_v = self.body_velocity(threshold)
        kp = self.keypoints + self.velocity * limb_dt + body_v * body_dt
        # The box moves with the body as a whole and keeps its size.
        shift = np.median(kp - self.keypoints, axis=0)
        return kp, self.bbox + np.tile(shift, 2)


class Tracker:
    def __init__(
        self,
        confirm_hits: int = 3,
        max_lost_s: float = 2.0,
        max_cost: float = 0.8,
        position_gain: float = 0.6,
        velocity_gain: float = 0.2,
        visibility_threshold: float = 0.5,
    ) -> None:
        self.confirm_hits = confirm_hits
        self.max_lost_s = max_lost_s
        self.max_cost = max_cost
        self.alpha = position_gain
        self.beta = velocity_gain
        self.visibility_threshold = visibility_threshold
        self.reset()

    @classmethod
    def from_settings(cls, settings, visibility_threshold: float) -> Tracker:
        return cls(
            confirm_hits=settings.confirm_hits,
            max_lost_s=settings.max_lost_s,
            max_cost=settings.max_cost,
            position_gain=settings.position_gain,
            velocity_gain=settings.velocity_gain,
            visibility_threshold=visibility_threshold,
        )

    def reset(self) -> None:
        self._tracks: list[_Live] = []
        self._next_id = 1

    @property
    def alive(self) -> bool:
        """Whether anyone is being tracked (tentative, confirmed or briefly lost)."""
        return bool(self._tracks)

    def expected(self, t: float, within_s: float = 1.0) -> list[tuple[int, np.ndarray, bool]]:
        """(id, predicted box, confirmed) of the people seen in the last ``within_s``:
        where the tracker expects them at time ``t``, for the model to look."""
        return [
            (tr.id, tr.predict(t, self.visibility_threshold)[1], tr.confirmed)
            for tr in self._tracks
            if t - tr.last_t <= within_s
        ]

    def ids(self) -> set[int]:
        """The ids of every track alive (tentative, confirmed or briefly lost)."""
        return {tr.id for tr in self._tracks}

    # -- matching -----------------------------------------------------------

    def cost(self, track: _Live, pose: Pose, t: float) -> float:
        """0 for the same pose in the same place, 1 for unrelated; mixes box overlap
        and landmark distance relative to the person's size."""
        kp, box = track.predict(t, self.visibility_threshold)
        h_track, h_pose = box[3] - box[1], pose.bbox[3] - pose.bbox[1]
        if h_track > 0 and h_pose > 0 and not 1 / SIZE_CHANGE <= h_pose / h_track <= SIZE_CHANGE:
            return 1.0
        iou = boxes.iou(box, pose.bbox)
        both = (track.visibility >= self.visibility_threshold) & (
            pose.visibility >= self.visibility_threshold
        )
        if not both.any():
            both = np.ones(len(kp), bool)
        scale = max(np.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1.0)), 20.0)
        dist = float(np.median(np.linalg.norm(kp[both] - pose.keypoints[both], axis=1)))
        return 0.5 * (1.0 - iou) + 0.5 * min(dist / scale, 1.0)

    def reid_cost(self, track: _Live, pose: Pose, t: float) -> float:
        """Distance from where a lost track is predicted to be, in its heights; 1 and
        more: not him. Sizes must agree within a factor of 1.6."""
        _, box = track.predict(t, self.visibility_threshold)
        h_track, h_pose = boxes.height(box), boxes.height(pose.bbox)
        if not 1 / 1.6 <= h_pose / h_track <= 1.6:
            return 1.0
        d = float(np.linalg.norm(boxes.centre(box) - boxes.centre(pose.bbox))) / h_track
        return min(d / REID_DISTANCE, 1.0)

    def _match(
        self, rows: list[int], cols: list[int], poses: Sequence[Pose], t: float, reid: bool
    ) -> list[tuple[int, int]]:
        if not rows or not cols:
            return []
        fn = self.reid_cost if reid else self.cost
        limit = 0.999 if reid else self.max_cost
        matrix = np.array([[fn(self._tracks[r], poses[c], t) for c in cols] for r in rows])
        gated = np.where(matrix <= limit, matrix, _BIG)
        found = linear_sum_assignment(gated)
        return [(rows[i], cols[j]) for i, j in zip(*found, strict=True) if gated[i, j] < _BIG]

    def _assign(self, poses: Sequence[Pose], t: float) -> list[tuple[int, int]]:
        free = list(range(len(poses)))
        confirmed = [i for i, tr in enumerate(self._tracks) if tr.confirmed]
        tentative = [i for i, tr in enumerate(self._tracks) if not tr.confirmed]
        matches = self._match(confirmed, free, poses, t, reid=False)
        free = [c for c in free if c not in {c for _, c in matches}]
        more = self._match(tentative, free, poses, t, reid=False)
        matches += more
        free = [c for c in free if c not in {c for _, c in more}]
        taken = {r for r, _ in matches}
        lost = [i for i in confirmed if i not in taken]
        matches += self._match(lost, free, poses, t, reid=True)
        return matches

    # -- update -------------------------------------------------------------

    def _correct(self, track: _Live, pose: Pose, t: float) -> None:
        dt = t - track.last_t
        kp_pred = track.keypoints + track.velocity * min(max(dt, 0.0), LIMB_PREDICT_S)
        if dt <= 0:
            track.keypoints = pose.keypoints.copy()
        elif track.hits == 1 or not track.seen:
            # Second sighting, or back after being lost: the honest velocity is the
            # displacement itself (of the body as a whole after a gap), and the
            # position is where he is now.
            track.velocity = (pose.keypoints - track.keypoints) / dt
            if not track.seen:
                track.velocity[:] = np.median(track.velocity, axis=0)
            track.keypoints = pose.keypoints.copy()
        else:
            residual = pose.keypoints - kp_pred
            track.keypoints = kp_pred + self.alpha * residual
            track.velocity = track.velocity + (self.beta / dt) * residual
        track.bbox = pose.bbox.copy()
        track.visibility = pose.visibility.copy()
        track.last_t = t
        track.hits += 1
        track.seen = True

    def update(self, poses: Sequence[Pose], t: float) -> list[Track]:
        """Advance to frame time ``t`` (seconds) with this frame's detections."""
        matches = self._assign(poses, t)
        matched_tracks = {r for r, _ in matches}
        matched_poses = {c for _, c in matches}
        for r, c in matches:
            self._correct(self._tracks[r], poses[c], t)
        for r, track in enumerate(self._tracks):
            if r not in matched_tracks:
                track.seen = False
        self._tracks = [tr for tr in self._tracks if tr.seen or self._survives(tr, t)]
        for c, pose in enumerate(poses):
            if c not in matched_poses:
                self._tracks.append(
                    _Live(
                        id=self._next_id,
                        keypoints=pose.keypoints.copy(),
                        velocity=np.zeros_like(pose.keypoints),
                        visibility=pose.visibility.copy(),
                        bbox=pose.bbox.copy(),
                        first_t=t,
                        last_t=t,
                        confirmed=self.confirm_hits <= 1,
                    )
                )
                self._next_id += 1
        self._confirm(t)
        return [self._snapshot(tr, t) for tr in self._tracks]

    def _survives(self, tr: _Live, t: float) -> bool:
        limit = self.max_lost_s if tr.confirmed else min(self.max_lost_s, TENTATIVE_LOST_S)
        return t - tr.last_t <= limit

    def _confirm(self, t: float) -> None:
        people = [self._box(tr, t) for tr in self._tracks if tr.confirmed]
        for tr in self._tracks:
            if tr.confirmed or not tr.seen or tr.hits < self.confirm_hits:
                continue
            # A small figure inside a tracked person is the model's ghost, not a person.
            if not any(is_figure_within(tr.bbox, box) for box in people):
                tr.confirmed = True

    def _box(self, tr: _Live, t: float) -> np.ndarray:
        return tr.bbox if tr.seen else tr.predict(t, self.visibility_threshold)[1]

    def _snapshot(self, tr: _Live, t: float) -> Track:
        state: TrackState = (
            "tentative" if not tr.confirmed else ("confirmed" if tr.seen else "lost")
        )
        kp, box = (tr.keypoints, tr.bbox) if tr.seen else tr.predict(t, self.visibility_threshold)
        return Track(
            id=tr.id,
            state=state,
            keypoints=kp.copy(),
            velocity=tr.velocity.copy(),
            visibility=tr.visibility.copy(),
            bbox=box.copy(),
            seen=tr.seen,
            hits=tr.hits,
            age_s=t - tr.first_t,
            since_seen_s=t - tr.last_t,
        )
