"""Phantoms (pure, real pixels made here): a still figure of the wrong size is not a
person; a still figure of the right size is; anything that moves is."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from synth import person, track_from

from safetyd.vision.phantoms import PhantomJudge
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
    judge, judgements = judged_over(tracks_per_frame, images, heights)
    return judge, [j.phantoms for j in judgements]


def judged_over(tracks_per_frame, images, heights, dt: float = 0.1):
    judge = PhantomJudge()
    out = []
    for k, (tracks, image) in enumerate(zip(tracks_per_frame, images, strict=True)):
        out.append(judge.update(tracks, image, heights, k * dt))
    return judge, out


def still(track, n: int, dt: float = 0.1):
    return [[replace(track, age_s=k * dt)] for k in range(n)]


def test_a_still_figure_half_the_size_of_people_there_is_a_phantom() -> None:
    small = track_from(person(600, 600, scale=0.4))  # 70 px head to toe, people are 170
    image = floor_image()
    _, judged = judged_over(still(small, 15), [image] * 15, learned())
    assert judged[-1].phantoms[small.id] == "never moved, and 70 px tall where people are 170 px"
    assert all(j.phantoms == {} for j in judged[:10])  # judged after JUDGE_S, not before
    assert all(j.undecided == {small.id} for j in judged[:10])  # and opens nothing till then
    assert judged[10].undecided == frozenset()


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


# -- life must be the track's own -------------------------------------------------------


def _walking_out(worker_x0: float, steps: int, figure, images_seed: int = 0):
    """A worker (170 px, as people are here) walks right, out of the pixels of a still
    figure a third of his size that stands at his feet; his legs, a dark block
    over the figure's box, uncover it as he goes (its pixels change, more than
    around it)."""
    frames, images = [], []
    fx0, fy0, fx1, fy1 = (int(v) for v in figure.bbox)
    for k in range(-4, steps):  # he walks up to it first (the model cannot see it yet)
        step = 40 * min(k, 4)
        walker = track_from(person(worker_x0 + step, 600), track_id=1)
        walker = replace(walker, age_s=5.0 + 0.1 * k)
        img = floor_image(images_seed)
        img[fy0:fy1, fx0:fx1] = 160  # the figure (a pale object)
        legs = fx0 - 4 + step
        img[fy0 - 4 : fy1, legs : legs + fx1 - fx0 + 8] = 30
        frames.append([walker] + ([replace(figure, age_s=0.1 * k)] if k >= 0 else []))
        images.append(img)
    return frames, images


def test_a_figure_uncovered_by_a_worker_walking_out_is_not_alive_and_is_condemned() -> None:
    """What a departing worker does to the figure's pixels is his life, not its own:
    the figure never moved, is a third of a person's size, and is judged a phantom."""
    figure = replace(track_from(person(600, 600, scale=0.35), track_id=2), state="tentative")
    frames, images = _walking_out(590, 25, figure)
    judge, judged = judged_over(frames, images, learned())
    assert not judge.live(2)
    assert "never moved" in judged[-1].phantoms[2]
    assert all(2 in j.undecided for j in judged[4:14])  # and opens nothing before


def test_a_first_box_that_sprawls_and_then_settles_is_not_travel() -> None:
    """The model's first box of a thing is often a blend that shrinks onto it: its
    centre moves, nothing travelled."""
    settled = track_from(person(600, 600, scale=0.35), track_id=2)
    sprawl = replace(settled, bbox=settled.bbox + np.array([-10, -60, 10, 0]))
    frames = [[replace(sprawl if k < 2 else settled, age_s=0.1 * k)] for k in range(15)]
    judge, judged = judged_over(frames, [floor_image()] * 15, learned())
    assert not judge.live(2) and 2 in judged[-1].phantoms


def test_one_sprawling_box_of_a_still_thing_is_not_the_reference_it_moves_from() -> None:
    """Met on the phantom trap: a still thing's box sprawls on one frame and comes back
    over the next two. Were the sprawl taken as the reference, the boxes back on the
    thing would seem to have travelled from it two frames in a row: life, for good."""
    settled = track_from(person(600, 600, scale=0.35), track_id=2)
    w, h = settled.bbox[2] - settled.bbox[0], settled.bbox[3] - settled.bbox[1]
    sprawl = settled.bbox + np.array([0.46 * w, 0.03 * h, 1.19 * w, 0.26 * h])
    wide = settled.bbox + np.array([0.0, 0.01 * h, 0.76 * w, -0.065 * h])
    seq = [settled.bbox] * 3 + [sprawl, wide, wide] + [settled.bbox] * 10
    frames = [[replace(settled, bbox=b, age_s=0.1 * k)] for k, b in enumerate(seq)]
    judge, judged = judged_over(frames, [floor_image()] * len(seq), learned())
    assert not judge.live(2)
    assert 2 in judged[-1].phantoms


def test_without_learned_sizes_a_figure_is_judged_against_the_worker_it_was_seen_with() -> None:
    """A camera that has not learned people's sizes yet: the worker whose feet were on
    the figure's row tells how tall a person is there."""
    figure = replace(track_from(person(600, 600, scale=0.35), track_id=2), state="tentative")
    frames, images = _walking_out(590, 25, figure)
    judge, judged = judged_over(frames, images, Heights())
    assert "tall where people are 1" in judged[-1].phantoms[2]


def test_a_person_of_the_right_size_is_not_kept_waiting() -> None:
    """A second worker stepping in as the first leaves is not delayed: his size where
    he stands is a person's."""
    second = replace(track_from(person(620, 600), track_id=2), state="tentative")
    frames, images = _walking_out(590, 3, second)
    _, judged = judged_over(frames, images, learned())
    assert all(2 not in j.undecided and 2 not in j.phantoms for j in judged)


def test_a_phantom_does_not_stop_a_worker_beside_it_from_showing_life() -> None:
    """Phantoms do not move: once condemned, one standing beside a worker does not make
    his own movement somebody else's."""
    phantom = track_from(person(560, 600, scale=0.35), track_id=2)
    worker = track_from(person(600, 600, scale=0.4), track_id=3)  # crouching, too small
    frames, images = [], []
    for k in range(40):
        img = floor_image()
        if k >= 20 and k % 2:
            x0, y0, x1, y1 = (int(v) for v in worker.bbox)
            img[y0 + 5 : y1 - 5, x0 + 2 : x1 - 2] = 40  # he works with his hands
        now = [replace(phantom, age_s=0.1 * k)]
        if k >= 20:  # he comes to work beside it once it has been judged
            now.append(replace(worker, age_s=0.1 * (k - 20)))
        frames.append(now)
        images.append(img)
    judge, judged = judged_over(frames, images, learned())
    assert 2 in judged[-1].phantoms
    assert judge.live(3) and 3 not in judged[-1].phantoms


def test_a_thing_first_seen_as_a_worker_leaves_must_prove_itself_before_it_opens() -> None:
    """Its size cannot be measured (no feet seen) and the camera knows no sizes: it
    cannot be condemned, but it opens nothing while it shows no life of its own; once
    it walks, it is a person."""
    hidden = person(600, 600, scale=0.35, hide=("feet",))
    figure = replace(track_from(hidden, track_id=2), state="tentative")
    frames, images = _walking_out(590, 30, figure)
    judge, judged = judged_over(frames, images, Heights())
    assert all(2 in j.undecided and not j.phantoms for j in judged[4:])  # 3 s: still waiting
    # Now it walks off: its own movement.
    moving = [
        [replace(track_from(person(600 + 15 * k, 600, scale=0.35, hide=("feet",)), track_id=2),
                 age_s=3.0 + 0.1 * k)]
        for k in range(1, 5)
    ]  # fmt: skip
    for k, tracks in enumerate(moving):
        last = judge.update(tracks, floor_image(), Heights(), 3.5 + 0.1 * k)
    assert judge.live(2) and 2 not in last.undecided


def test_a_phantom_stays_one_on_frames_where_its_size_cannot_be_measured() -> None:
    """The model's fit on a still thing loses its 'feet' on some frames: nothing in such
    a frame says it is a person, so its verdict holds; a frame measuring it a person's
    size would release it."""
    small = track_from(person(600, 600, scale=0.4))
    blind = track_from(person(600, 600, scale=0.4, hide=("feet",)))
    frames = [[replace(blind if k % 3 == 2 else small, age_s=0.1 * k)] for k in range(30)]
    _, judged = judged_over(frames, [floor_image()] * 30, learned())
    assert all(small.id in j.phantoms for j in judged[10:]), [j.phantoms for j in judged[10:]]
