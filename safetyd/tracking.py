"""Multi-person tracking: stable ids, smoothed landmarks and their velocities.

Pure: ``Tracker.update(poses, t)`` with the frame time passed in, no threads,
no clock of its own. Each frame, live tracks are predicted forward with their
velocities and matched to the new detections by optimal assignment
(``scipy.optimize.linear_sum_assignment``) on a cost mixing box overlap and
landmark distance. A track is *tentative* until it has been seen
``confirm_hits`` times (one-frame flickers never become people), *confirmed*
after that, *lost* while unseen, and deleted after ``max_lost_s`` unseen.

Every landmark has a constant-velocity alpha-beta filter (position gain
alpha, velocity gain beta): it smooths the model's jitter and gives each
body part its own velocity, so that a hand reaching forward is seen moving
even when the body stands still.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from .pose import Pose

TrackState = Literal["tentative", "confirmed", "lost"]
_BIG = 1e6


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


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


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
    box_velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))

    def predict(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        dt = max(t - self.last_t, 0.0)
        return self.keypoints + self.velocity * dt, self.bbox + self.box_velocity * dt


class Tracker:
    def __init__(
        self,
        confirm_hits: int = 3,
        max_lost_s: float = 1.0,
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

    # -- matching -----------------------------------------------------------

    def cost(self, track: _Live, pose: Pose, t: float) -> float:
        """0 for the same pose in the same place, 1 for unrelated; mixes box overlap
        and landmark distance relative to the person's size."""
        kp, box = track.predict(t)
        h_track, h_pose = box[3] - box[1], pose.bbox[3] - pose.bbox[1]
        if h_track > 0 and h_pose > 0 and not 0.5 <= h_pose / h_track <= 2.0:
            return 1.0  # a person does not halve or double in size between frames
        iou = box_iou(box, pose.bbox)
        both = (track.visibility >= self.visibility_threshold) & (
            pose.visibility >= self.visibility_threshold
        )
        if not both.any():
            both = np.ones(len(kp), bool)
        scale = max(np.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1.0)), 20.0)
        dist = float(np.median(np.linalg.norm(kp[both] - pose.keypoints[both], axis=1)))
        return 0.5 * (1.0 - iou) + 0.5 * min(dist / scale, 1.0)

    def _assign(self, poses: Sequence[Pose], t: float) -> list[tuple[int, int]]:
        if not self._tracks or not poses:
            return []
        matrix = np.array([[self.cost(tr, p, t) for p in poses] for tr in self._tracks])
        gated = np.where(matrix <= self.max_cost, matrix, _BIG)
        rows, cols = linear_sum_assignment(gated)
        return [(r, c) for r, c in zip(rows, cols, strict=True) if gated[r, c] < _BIG]

    # -- update -------------------------------------------------------------

    def _correct(self, track: _Live, pose: Pose, t: float) -> None:
        dt = t - track.last_t
        kp_pred, box_pred = track.predict(t)
        if dt <= 0:
            track.keypoints, track.bbox = pose.keypoints.copy(), pose.bbox.copy()
        elif track.hits == 1:
            # Second sighting: the first honest velocity is the displacement itself.
            track.velocity = (pose.keypoints - track.keypoints) / dt
            track.box_velocity = (pose.bbox - track.bbox) / dt
            track.keypoints, track.bbox = pose.keypoints.copy(), pose.bbox.copy()
        else:
            residual = pose.keypoints - kp_pred
            track.keypoints = kp_pred + self.alpha * residual
            track.velocity = track.velocity + (self.beta / dt) * residual
            box_residual = pose.bbox - box_pred
            track.bbox = pose.bbox.copy()
            track.box_velocity = track.box_velocity + (self.beta / dt) * box_residual
        track.visibility = pose.visibility.copy()
        track.last_t = t
        track.hits += 1
        track.seen = True
        if track.hits >= self.confirm_hits:
            track.confirmed = True

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
        self._tracks = [tr for tr in self._tracks if tr.seen or t - tr.last_t <= self.max_lost_s]
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
        return [self._snapshot(tr, t) for tr in self._tracks]

    def _snapshot(self, tr: _Live, t: float) -> Track:
        state: TrackState = (
            "tentative" if not tr.confirmed else ("confirmed" if tr.seen else "lost")
        )
        kp, box = (tr.keypoints, tr.bbox) if tr.seen else tr.predict(t)
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
