"""System 1's decisions with a fake clock, no ROS: slot, pairing, staleness gates, planning rate, bad input."""
import numpy as np
import pytest

from video2act.model.system2_stream import SlowFeatures
from video2act.runtime.robot import RobotDescription
from video2act.runtime.system1_core import InputError, System1Core

ROBOT = RobotDescription.from_config()
SHAPES = {"spatial": (2, 4), "motion": (3, 4)}


def make_core(**kw):
    args = dict(max_image_age=0.3, max_feature_age=1.0, state_tolerance=0.1, rate_hz=10.0)
    return System1Core(ROBOT, SHAPES, make_features=SlowFeatures, **{**args, **kw})


def features(core, stamp, value=0.0):
    core.on_feature("spatial", stamp, np.full(SHAPES["spatial"], value))
    core.on_feature("motion", stamp, np.full(SHAPES["motion"], value))


def feedback(core, stamp):
    left, right = ROBOT.split(ROBOT.home)
    core.on_feedback(0, stamp, left)
    core.on_feedback(1, stamp, right)


def test_acts_on_the_newest_observation_with_paired_features_and_nearest_state():
    core = make_core()
    features(core, 0.9, 1.0)
    feedback(core, 0.95)
    feedback(core, 1.2)
    core.on_observation({"head": "old"}, 0.9)
    core.on_observation({"head": "new"}, 1.0)  # supersedes: only the newest is planned from
    assert core.counts["observations_superseded"] == 1
    obs = core.take()
    assert obs[0] == {"head": "new"} and core.take() is None
    inputs = core.inputs(obs, now=1.05)
    assert inputs.t_obs == 1.0 and inputs.features.stamp == 0.9 and float(inputs.features.spatial[0, 0]) == 1.0
    np.testing.assert_array_equal(inputs.state, ROBOT.home)


def test_a_feature_pair_needs_both_halves_with_the_same_stamp():
    core = make_core()
    core.on_feature("spatial", 1.0, np.zeros(SHAPES["spatial"]))
    core.on_feature("motion", 1.1, np.zeros(SHAPES["motion"]))
    assert core.features.get(1.2) is None
    core.on_feature("motion", 1.0, np.zeros(SHAPES["motion"]))
    assert core.features.get(1.2).stamp == 1.0


@pytest.mark.parametrize("now, feature_stamp, feedback_stamp, counter", [
    (1.5, 1.0, 1.0, "images_stale"),                # images 0.5 s old > 0.3
    (1.1, 0.0, 1.0, "features_missing_or_stale"),   # features 1.1 s old > 1.0
    (1.1, 1.0, 0.5, "state_missing"),               # no feedback within 0.1 s of the image stamp
])
def test_stale_inputs_are_refused_and_counted(now, feature_stamp, feedback_stamp, counter):
    core = make_core()
    features(core, feature_stamp)
    feedback(core, feedback_stamp)
    assert core.inputs(({}, 1.0), now) is None
    assert core.counts[counter] == 1 and core.last_refusal
    features(core, now)  # good input again: acts at once
    feedback(core, now)
    assert core.inputs(({}, now), now) is not None


def planned_stamps(core, stamps, busy_until=None):
    """Feed observations stamped `stamps` (each arriving at its stamp); a worker free at busy_until[k] takes the
    newest due one. Returns the stamps planned from."""
    planned, free = [], -1.0
    for k, t in enumerate(stamps):
        core.on_observation({"head": k}, t)
        if t >= free and core.ready():
            obs = core.take()
            planned.append(obs[1])
            free = t + (busy_until(obs[1]) if busy_until else 0.0)
    return planned


def test_planning_rate_counts_on_stamps_and_a_late_plan_does_not_delay_the_next_frames():
    core = make_core(rate_hz=4.0)
    core.on_observation({"head": 0}, 10.0)
    assert core.ready() and core.take()[1] == 10.0
    core.on_observation({"head": 1}, 10.1)  # not due (4 Hz): waits in the slot for a newer one
    assert not core.ready() and core.take() is None and core.has_observation()
    core.on_observation({"head": 2}, 10.25)
    assert core.take()[1] == 10.25
    # 10 Hz frames, 10 Hz plans, one call busy for 0.13 s: the frame after it is planned 0.03 s late, every later
    # frame as it arrives (the schedule keeps its phase; counted from when a call ran, each would wait 0.03 s)
    core = make_core(rate_hz=10.0)
    stamps = [round(0.1 * k, 6) for k in range(20)]
    planned = planned_stamps(core, stamps, busy_until=lambda t: 0.13 if t == 0.5 else 0.05)
    assert planned == [s for s in stamps if s != 0.6]  # 0.6 arrived while busy; 0.7 planned on arrival
    # frames jittered +-20 ms around 10 Hz are all planned
    jitter = [0.1 * k + (0.02 if k % 2 else -0.02) for k in range(20)]
    assert planned_stamps(make_core(rate_hz=10.0), jitter) == jitter


def test_planning_rate_averages_rate_hz_on_faster_cameras():
    for camera_hz, plans in ((30.0, 30), (15.0, 30), (10.0, 30)):
        stamps = [k / camera_hz for k in range(int(3 * camera_hz))]  # 3 s
        planned = planned_stamps(make_core(rate_hz=10.0), stamps)
        assert len(planned) == plans, (camera_hz, len(planned))
        # never closer than a period less the lateness made up (half) and the tolerance (a quarter)
        assert min(np.diff(planned)) >= 0.1 * (1 - 0.5 - 0.25) - 1e-9


def test_stamps_going_backwards_restart_the_planning_schedule():
    core = make_core(rate_hz=10.0)
    assert planned_stamps(core, [100.0, 100.1]) == [100.0, 100.1]
    assert planned_stamps(core, [0.0, 0.05, 0.1]) == [0.0, 0.1]  # a simulator reset: planned at once, then 10 Hz
    core.new_episode()
    assert planned_stamps(core, [0.02]) == [0.02]


def test_bad_messages_are_counted_and_change_nothing():
    core = make_core()
    with pytest.raises(InputError, match="shape"):
        core.on_feature("spatial", 1.0, np.zeros((5, 4)))
    with pytest.raises(InputError, match="non-finite"):
        core.on_feature("motion", 1.0, np.full(SHAPES["motion"], np.nan))
    with pytest.raises(InputError, match="positions"):
        core.on_feedback(0, 1.0, [0.0] * 3)
    assert core.counts["features_dropped_bad"] == 2 and core.counts["feedback_dropped_bad"] == 1
    assert core.features.get(1.0) is None
    assert core.accept_chunk(np.full((64, 14), np.inf)) is None and core.counts["chunks_nonfinite"] == 1
    assert core.accept_chunk(np.zeros((64, 14))).shape == (64, 14) and core.counts["chunks_published"] == 1


def test_features_stamped_in_the_future_or_before_a_clock_jump_never_freeze_planning():
    core = make_core()
    feedback(core, 5.0)
    features(core, 100.0)  # no receiver clock given: stored (a wrong clock) ...
    assert core.inputs(({}, 5.0), now=5.0) is None  # ... but dropped: it lies 95 s in this clock's future
    core.on_feature("spatial", 200.0, np.zeros(SHAPES["spatial"]), now=5.0)
    core.on_feature("motion", 200.0, np.zeros(SHAPES["motion"]), now=5.0)  # refused: from the future
    assert core.features.from_the_future == 1 and "future" in core.last_refusal
    for k in range(3):  # correctly stamped features keep flowing and are acted on
        features(core, 5.0 + k * 0.1)
    feedback(core, 5.2)
    assert core.inputs(({}, 5.2), now=5.2).features.stamp == pytest.approx(5.2)


def test_a_camera_set_the_checkpoint_check_refuses_is_counted_and_not_acted_on():
    """The node passes the checkpoint's image-size check: another aspect ratio is refused as it arrives."""
    from video2act.model.checkpoint import TrainedWith, check_compatible

    trained = TrainedWith(source="ckpt", image_size=(96, 128))

    def check(sizes):
        for camera, size in sizes.items():
            check_compatible(trained, f"system1_node camera '{camera}'", image_size=size)

    core = make_core(check_images=check)
    good = {c: np.zeros((480, 640, 3), np.uint8) for c in ("head", "left", "right")}
    core.on_observation(good, 1.0)
    with pytest.raises(InputError, match=r"camera 'left'.*\n  image_size: trained with 96x128.*got 480x480"):
        core.on_observation({**good, "left": np.zeros((480, 480, 3), np.uint8)}, 1.1)
    assert core.counts["images_wrong_size"] == 1 and core.counts["observations"] == 1
    assert "image_size" in core.last_refusal
    images, t_obs = core.take()  # the good set is still the one planned from
    assert t_obs == 1.0 and images["left"].shape == (480, 640, 3)
