"""Smooth talking-head trajectories: head pose, gaze, mouth, brows, blinks, translation.

Every channel is a function of time built from a few random sinusoids (bounded, smooth) or, for
blinks, short smooth spikes, so consecutive frames move like a video and later frames (the test split)
reach pose/expression combinations the earlier ones did not.

Head rotation (documented choice): yaw ±35° and pitch ±20° mostly on the GLOBAL joint (the whole head
and neck turn, as in trackers that hold the camera fixed and move the head), plus a little neck
articulation (±6° pitch, ±4° roll) so the neck joint is exercised too. Gaze rotates both eye joints
alike (±14° yaw, ±9° pitch). Mouth: the jaw joint opens with a syllable rhythm (and the jawOpen
expression a little), plus smiles, funnel/pucker and lip stretch; brows raise and frown slowly;
blinks are 0.2–0.3 s spikes of eyeBlinkLeft/Right every 2–5 s.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

DEG = math.pi / 180


class Trajectory(NamedTuple):
    expression: np.ndarray
    """(T, E) expression coefficients (ARKit range [0, 1] for the channels used; others 0)."""
    pose: np.ndarray
    """(T, J, 3) axis-angle per joint, in the head model's joint order."""
    translation: np.ndarray
    """(T, 3) metres."""


def smooth(rng: np.random.Generator, t: np.ndarray, f_lo: float, f_hi: float, k: int = 3) -> np.ndarray:
    """A bounded smooth signal in [−1, 1] over times t (T,): k sinusoids with random frequencies in
    [f_lo, f_hi] Hz, random phases and amplitudes summing to 1."""
    freq = rng.uniform(f_lo, f_hi, k)
    phase = rng.uniform(0, 2 * math.pi, k)
    amp = rng.dirichlet(np.ones(k))
    return (amp[:, None] * np.sin(2 * math.pi * freq[:, None] * t[None] + phase[:, None])).sum(0)


def positive(rng, t, f_lo, f_hi, k=3) -> np.ndarray:
    """Smooth signal in [0, 1]."""
    return 0.5 + 0.5 * smooth(rng, t, f_lo, f_hi, k)


def blinks(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """(T,) eyelid closure in [0, 1]: smooth spikes (raised cosine, 0.2–0.3 s) every 2–5 s."""
    out = np.zeros_like(t)
    start = rng.uniform(0.2, 2.0)
    while start < t[-1] + 1.0:
        width = rng.uniform(0.2, 0.3)
        phase = (t - start) / width
        inside = (phase >= 0) & (phase <= 1)
        out[inside] = np.maximum(out[inside], 0.5 - 0.5 * np.cos(2 * math.pi * phase[inside]))
        start += width + rng.uniform(2.0, 5.0)
    return out


def talking_head(rng: np.random.Generator, n: int, fps: float, expression_names: list[str],
                 joint_names: list[str]) -> Trajectory:
    """A random n-frame trajectory; channels whose names the head model lacks are skipped."""
    t = np.arange(n) / fps
    E, J = len(expression_names), len(joint_names)
    expression = np.zeros((n, E))
    pose = np.zeros((n, J, 3))

    def set_expr(name, values):
        if name in expression_names:
            expression[:, expression_names.index(name)] = np.clip(values, 0.0, 1.0)

    def set_pose(name, axis, values):
        if name in joint_names:
            pose[:, joint_names.index(name), axis] = values

    # head: yaw about y, pitch about x (positive x pitches the face down), roll about z
    set_pose("global", 1, 35 * DEG * smooth(rng, t, 0.12, 0.45))
    set_pose("global", 0, 20 * DEG * smooth(rng, t, 0.12, 0.5))
    set_pose("neck", 0, 6 * DEG * smooth(rng, t, 0.2, 0.7))
    set_pose("neck", 2, 4 * DEG * smooth(rng, t, 0.15, 0.5))
    # gaze: both eyes alike, a slow drift plus quicker saccade-like motion
    gaze_yaw = 14 * DEG * (0.6 * smooth(rng, t, 0.1, 0.4) + 0.4 * np.tanh(3 * smooth(rng, t, 0.6, 1.2)))
    gaze_pitch = 9 * DEG * smooth(rng, t, 0.15, 0.6)
    for eye in ("left_eye", "right_eye"):
        set_pose(eye, 1, gaze_yaw)
        set_pose(eye, 0, gaze_pitch)
    # mouth: speech = syllables (3–5 Hz) under a phrase envelope that pauses now and then
    speaking = np.clip(1.6 * positive(rng, t, 0.15, 0.5) - 0.3, 0.0, 1.0)
    syllables = positive(rng, t, 2.5, 5.0, k=4) ** 1.5
    open_amount = speaking * syllables
    set_pose("jaw", 0, 0.22 * open_amount)
    set_expr("jawOpen", 0.25 * open_amount)
    smile = np.clip(1.4 * positive(rng, t, 0.08, 0.3) - 0.5, 0.0, 1.0)
    set_expr("mouthSmileLeft", 0.8 * smile)
    set_expr("mouthSmileRight", 0.8 * smile * (0.85 + 0.15 * positive(rng, t, 0.2, 0.5)))
    rounding = speaking * np.clip(2.0 * positive(rng, t, 0.6, 1.8) - 1.0, 0.0, 1.0)
    set_expr("mouthFunnel", 0.6 * rounding)
    set_expr("mouthPucker", 0.5 * rounding * positive(rng, t, 0.5, 1.2))
    set_expr("mouthStretchLeft", 0.4 * speaking * positive(rng, t, 0.8, 2.0))
    set_expr("mouthStretchRight", 0.4 * speaking * positive(rng, t, 0.8, 2.0))
    set_expr("mouthClose", 0.3 * (1 - speaking) * positive(rng, t, 0.2, 0.6))
    # brows and cheeks
    raise_ = np.clip(1.8 * positive(rng, t, 0.1, 0.6) - 0.8, 0.0, 1.0)
    set_expr("browInnerUp", raise_)
    set_expr("browOuterUpLeft", 0.8 * raise_)
    set_expr("browOuterUpRight", 0.8 * raise_)
    frown = np.clip(1.8 * positive(rng, t, 0.1, 0.5) - 1.0, 0.0, 1.0) * (1 - raise_)
    set_expr("browDownLeft", frown)
    set_expr("browDownRight", frown)
    set_expr("cheekSquintLeft", 0.5 * smile)
    set_expr("cheekSquintRight", 0.5 * smile)
    # blinks (both eyes together, occasionally one lags a little) plus a smile-driven squint
    blink = blinks(rng, t)
    set_expr("eyeBlinkLeft", blink)
    set_expr("eyeBlinkRight", np.roll(blink, 1 if rng.uniform() < 0.3 else 0))
    set_expr("eyeSquintLeft", 0.3 * smile)
    set_expr("eyeSquintRight", 0.3 * smile)
    translation = np.stack([0.012 * smooth(rng, t, 0.05, 0.3), 0.008 * smooth(rng, t, 0.05, 0.3),
                            0.015 * smooth(rng, t, 0.05, 0.3)], -1)
    return Trajectory(expression, pose, translation)
