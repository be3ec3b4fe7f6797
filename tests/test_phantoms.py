"""Phantoms (pure, real pixels made here): a still figure of the wrong size is not a
person; a still figure of the right size is; anything that moves is."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from synth import person, track_from

from safetyd.vision.phantoms import JUDGE_S, PhantomJudge
from safetyd.vision.sizes import Heights, LearnedHeights, Sighting

FRAME = (720, 1280)


def floor_image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(90, 110, (*FRAME, 3), dtype=np.uint8)


def learned(height: float = 170.0) -> Heights:
    """A camera that has seen people, feet visible, about ``height`` px tall everywhere."""
    samples = LearnedHeights()
    for i, y in enumerate(range(300, 700, 20)):
        samples.add(Sighting(i % 3, 600, y, height))
    return Heights(None, samples)


def judge_over(tracks_per_frame, images, heights) -> tuple[PhantomJudge, list[dict]]:
    judge = PhantomJudge()
    verdicts = []
    for tracks, image in zip(tracks_per_frame, images, strict=True):
        verdicts.append(judge.update(tracks, image, heights))
    return judge, verdicts


def still(track, n: int, dt: float = 0.1):
    return [[replace(track, age_s=k * dt)] for k in range(n)]


def test_a_still_figure_half_the_size_of_people_there_is_a_phantom() -> None:
    small = track_from(person(600, 600, scale=0.4))  # 70 px head to toe, people are 170
    image = floor_image()
    judge, verdicts = judge_over(still(small, 15), [image] * 15, learned())
    assert verdicts[-1][small.id] == "never moved, and 70 px tall where people are 170 px"
    assert all(v == {} for v in verdicts[:10])  # judged after JUDGE_S, not before
    assert judge.undecided(replace(small, age_s=JUDGE_S / 2))
    assert not judge.undecided(replace(small, age_s=JUDGE_S))


def test_a_real_worker_standing_still_is_never_suppressed() -> None:
    worker = track_from(person(600, 600))  # 170 px, as people are here
    image = floor_image()
    _, verdicts = judge_over(still(worker, 600), [image] * 600, learned())  # a minute
    assert all(v == {} for v in verdicts)


def test_before_people_have_been_seen_size_condemns_nothing() -> None:
    small = track_from(person(600, 600, scale=0.4))
    _, verdicts = judge_over(still(small, 15), [floor_image()] * 15, Heights())
    assert verdicts[-1] == {}


def test_a_figure_that_walks_is_a_person_whatever_its_size() -> None:
    frames = [[replace(track_from(person(400 + 8 * k, 600, scale=0.4)), age_s=k * 0.1)]
              for k in range(15)]  # fmt: skip
    judge, verdicts = judge_over(frames, [floor_image()] * 15, learned())
    assert all(v == {} for v in verdicts) and judge.live(1)


def test_pixels_that_change_inside_a_still_box_are_life() -> None:
    small = track_from(person(600, 600, scale=0.4))
    x0, y0, x1, y1 = (int(v) for v in small.bbox)
    images = []
    for k in range(15):
        img = floor_image()
        if k % 2:  # someone shifting weight: the inside of the box changes, not around it
            img[y0 + 5 : y1 - 5, x0 + 2 : x1 - 2] = 40
        images.append(img)
    judge, verdicts = judge_over(still(small, 15), images, learned())
    assert judge.live(small.id) and verdicts[-1] == {}


def test_light_changing_everywhere_is_not_life() -> None:
    small = track_from(person(600, 600, scale=0.4))
    images = [
        np.clip(floor_image().astype(int) + 8 * k, 0, 255).astype(np.uint8) for k in range(15)
    ]
    judge, verdicts = judge_over(still(small, 15), images, learned())
    assert not judge.live(small.id) and small.id in verdicts[-1]
