"""Hindsight keyframes: where each arm will next grasp and next release, from the recorded joints alone.

What a real robot records (joint states and gripper commands) already says where the objects were: a gripper
closes where an object is and opens where it is put down. Keyframe discovery from gripper state changes is
how C2F-ARM / PerAct (James & Davison 2022; Shridhar et al. 2022) cut demonstrations into targets; here the
same events give the keypoint maps a target to find in the head image, without any simulator label:

    gripper command (per arm)   ─────╮___________╭───────       closed: below halfway between its extremes
                                     ▲ grasp     ▲ release
    step t:  slot "next grasp"   = fingertip (FK of the measured joints) at the next close after t
             slot "next release" = fingertip at the next open after a close, after t

Slots are [left grasp, left release, right grasp, right release]; a slot with no such event after t is all
zero (the "no body" convention of `Episode.objects`). Fingertips come from runtime.kinematics (the arms'
mounting in config/sim.yaml, shared by the twin and the robot); the model projects them into the head image
through the head camera's pose in config/sim.yaml.
"""
from __future__ import annotations

import numpy as np

SLOTS = ("left_grasp", "left_release", "right_grasp", "right_release")
GRIPPER_INDEX = (6, 13)  # 14-d layout: each arm's gripper opening (m)
MIN_STROKE = 0.01  # m: an arm whose gripper command moves less than this in an episode has no events


def gripper_events(opening: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) commanded opening -> (close steps, open steps): where the command crosses halfway between its
    narrowest and widest opening downward (a grasp) and upward (a release)."""
    opening = np.asarray(opening, dtype=float)
    if np.ptp(opening) < MIN_STROKE:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    closed = opening < 0.5 * (opening.max() + opening.min())
    change = np.flatnonzero(np.diff(closed.astype(np.int8))) + 1  # first step of each new state
    return change[closed[change]], change[~closed[change]]


def _next_event(events: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each step in t, the first event at or after it, -1 when none."""
    padded = np.append(events, -1)  # index len(events) = no event left
    return padded[np.searchsorted(events, t, side="left")]


def keyframe_targets(state: np.ndarray, action: np.ndarray, kinematics=None) -> np.ndarray:
    """(T, 14) measured joints and (T, 14) commands -> (T, 4 * 3) world fingertip positions of the SLOTS at
    each step's next grasp / release (zero where there is none)."""
    from video2act.runtime.kinematics import DualArmKinematics

    state, action = np.asarray(state, dtype=float), np.asarray(action, dtype=float)
    if state.ndim != 2 or state.shape != action.shape or state.shape[1] != 14:
        raise ValueError(f"state and action must both be (T, 14). Got {state.shape} and {action.shape}")
    kin = kinematics or DualArmKinematics.from_config()
    t = np.arange(len(state))
    out = np.zeros((len(state), len(SLOTS), 3), dtype=np.float32)
    tips = {}  # step -> (left xyz, right xyz), only where an event needs it
    for arm, gi in enumerate(GRIPPER_INDEX):
        closes, opens = gripper_events(action[:, gi])
        for slot, events in ((2 * arm, closes), (2 * arm + 1, opens)):
            nxt = _next_event(events, t)
            for step in np.unique(nxt[nxt >= 0]):
                if step not in tips:
                    tips[step] = kin.fingertip_positions(state[step])
                out[nxt == step, slot] = tips[step][arm]
    return out.reshape(len(state), -1)
