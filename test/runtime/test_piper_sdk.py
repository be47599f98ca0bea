"""The direct Piper path on the real piper_sdk (PyPI 0.6.x) over python-can's `virtual` bus, no hardware.

SocketCAN vcan is not available on these machines and C_PiperInterface_V2's constructor opens socketcan, so the
SDK is built with can_auto_init=False and its bus made by the SDK's own CreateCanBus(bustype="virtual")
(runtime.piper.open_sdk). A SimulatedPiper (runtime/piper_sim.py) on the same channel answers the enable
handshake, sends feedback frames and decodes every command with piper_sdk's own parser. A sniffer bus on the
channel sees every frame the SDK puts on the wire, whatever the simulated arm's link does.

Decisions (feedback age, hold, recovery) run on a fake clock: the SDK's reader thread delivers frames in real
time, so the tests wait (polling, no timing assert) for frames to arrive before the fake clock moves on.
"""
import itertools
import time

import numpy as np
import pytest

can = pytest.importorskip("can")
pytest.importorskip("piper_sdk")

from video2act.runtime.piper import (PiperArm, PiperArmConfig, PiperEnableError, SDK_FACTOR,  # noqa: E402
                                     open_sdk, to_sdk)
from video2act.runtime.piper_sim import SimulatedPiper  # noqa: E402
from video2act.runtime.robot import RobotDescription  # noqa: E402
from video2act.runtime.streamer import StreamerCore  # noqa: E402

ROBOT = RobotDescription.from_config()
DT = 0.005  # 200 Hz driver ticks
_ids = itertools.count()


def wait_until(cond, timeout=3.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.002)
    raise AssertionError(f"timed out waiting for {what}")


class Sniffer:
    """Counts the JointCtrl frames (0x155) on a channel."""

    def __init__(self, channel):
        self.frames = []
        self.bus = can.Bus(interface="virtual", channel=channel)
        self.notifier = can.Notifier(self.bus, [self._on])

    def _on(self, msg):
        if msg.arbitration_id == 0x155:
            self.frames.append(msg)

    def close(self):
        self.notifier.stop()
        self.bus.shutdown()


class Rig:
    """One arm: simulated Piper + real SDK + PiperArm on a fresh virtual channel (the SDK keeps one instance per
    channel name, so every rig gets its own)."""

    def __init__(self, name="left", **sim_kwargs):
        self.channel = f"v2a_{name}_{next(_ids)}_{time.monotonic_ns()}"
        self.sim = SimulatedPiper(self.channel, **sim_kwargs)
        self.sniffer = Sniffer(self.channel)
        self.sdk = open_sdk(self.channel, "virtual")
        self.arm = PiperArm(self.sdk, name, PiperArmConfig())
        wait_until(lambda: self.sdk.GetArmJointMsgs().time_stamp, what="first feedback")

    def enable(self):
        self.arm.enable(time.monotonic, time.sleep)

    def stamp(self):
        return self.sdk.GetArmJointMsgs().time_stamp

    def close(self):
        self.sdk.DisconnectPort()
        self.sniffer.close()
        self.sim.close()


@pytest.fixture
def rigs():
    made = []

    def make(*args, **kwargs):
        made.append(Rig(*args, **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def stream(core, rigs_by_arm, t, ticks, ramp_v=0.3, t_start=0.0, sleep=True):
    """Streamer + drivers on fake time t: feedback -> core.tick -> per-arm command -> driver tick. Returns
    (t, [(t, arm, (7,) command, sent)]). sleep=False paces the fake clock by DT of real time per tick instead of
    waiting for each frame (frames still arrive from the simulated arm at its own rate)."""
    out = []
    for _ in range(ticks):
        for arm, rig in rigs_by_arm.items():
            q = rig.arm.feedback(t)
            if q is not None:
                core.on_feedback(arm, [], q, t)
        if core.chunk_age(t) > 0.2:  # System 1 stand-in: a chunk every 0.2 s ramping joint 1 of both arms
            plan = np.tile(ROBOT.home, (64, 1))
            plan[:, 0] += ramp_v * (t - t_start + np.arange(64) / 30.0)
            plan[:, 7] += ramp_v * (t - t_start + np.arange(64) / 30.0)
            core.on_chunk([], plan, t0=t, now=t)
        cmd = core.tick(t)
        for arm, q in zip(ROBOT.arms, (None, None) if cmd is None else ROBOT.split(cmd)):
            rig = rigs_by_arm[arm]
            n = len(rig.sim.motion_frames)
            if q is not None:
                rig.arm.on_command(q, t)
            sent = rig.arm.tick(t)
            if sent:
                out.append((t, arm, q, True))
                if sleep:  # let the frames cross the bus before the next fake tick
                    wait_until(lambda: len(rig.sim.motion_frames) > n or not rig.sim.link_up, what="frame")
        t += DT
        if not sleep:
            time.sleep(DT)
    return t, out


def make_core():
    return StreamerCore(ROBOT, rate_hz=1 / DT, chunk_dt=1 / 30.0, blend="crossfade")


def test_enable_waits_for_all_motors_and_does_not_move_the_gripper(rigs):
    r = rigs("left", enable_delay=4)
    assert r.arm.motors_enabled() == [False] * 6
    r.enable()
    assert r.arm.state == "ready" and r.sim.enabled and r.sim.enable_requests >= 4
    wait_until(lambda: r.sim.gripper_commands, what="gripper enable")
    _, angle, effort, code = r.sim.gripper_commands[-1]
    assert (angle, effort, code) == (40000, 1000, 0x01)  # enabled at its measured opening, not closed (0)


def test_enable_refused_is_a_clear_error(rigs):
    r = rigs("left", refuse_enable=True)
    clock = [0.0]

    def sleep(s):
        clock[0] += s
        time.sleep(0.001)

    with pytest.raises(PiperEnableError, match=r"did not all report enabled within 5 s.*\[False, False"):
        r.arm.enable(lambda: clock[0], sleep)
    assert r.sim.enable_requests >= 90 and r.arm.state == "enable failed"
    assert r.arm.tick(clock[0]) is False and r.sniffer.frames == []  # nothing is ever sent


def test_both_arms_commands_decode_to_the_commanded_joints(rigs):
    arms = {"left": rigs("left"), "right": rigs("right")}
    for r in arms.values():
        r.enable()
    core = make_core()
    _, out = stream(core, arms, 0.0, 300)
    worst = 0.0
    for arm, rig in arms.items():
        sent = [q for _, a, q, _ in out if a == arm]
        decoded = [j for _, j in rig.sim.motion_frames]
        assert len(sent) > 250 and len(decoded) == len(sent)
        for q, joints in zip(sent, decoded):  # joint by joint, decoded by piper_sdk's own parser
            assert joints == to_sdk(q)[0]
            err = np.abs(np.array(joints) / SDK_FACTOR - q[:6]).max()
            worst = max(worst, err)
        assert rig.sim.speed_percent == 50 and rig.sim.ctrl_mode == 0x01
        assert rig.sim.gripper_commands[-1][1] == to_sdk(sent[-1])[1]
    assert worst <= 0.5 / SDK_FACTOR  # half of 0.001 deg: the SDK's resolution
    print(f"\nlargest decoded joint error {worst:.3e} rad ({np.degrees(worst) * 1e3:.3f} mdeg) over {len(out)} commands")
    assert core.state == "streaming" and arms["left"].sim.joints[0] > to_sdk(ROBOT.home[:7])[0][0]  # the arm moved


@pytest.mark.parametrize("fault", ["link lost", "feedback stops", "arm disabled", "arm error"])
def test_a_fault_holds_within_half_a_second_and_streaming_resumes(rigs, fault):
    arms = {"left": rigs("left"), "right": rigs("right")}
    for r in arms.values():
        r.enable()
    core = make_core()
    t, _ = stream(core, arms, 0.0, 100)
    r = arms["left"]
    if fault == "link lost":
        r.sim.link_up = False
    elif fault == "feedback stops":
        r.sim.send_joint_feedback = False
    elif fault == "arm disabled":
        r.sim.set_enabled(False)
        wait_until(lambda: not any(r.arm.motors_enabled()), what="disabled motors reported")
    else:
        r.sim.arm_status = 0x07  # collision
        wait_until(lambda: r.sdk.GetArmStatus().arm_status.arm_status == 0x07, what="error status")
    if fault in ("link lost", "feedback stops"):  # let the last frames in flight arrive
        def stopped():
            s = r.stamp()
            time.sleep(0.03)
            return r.stamp() == s

        wait_until(stopped, what="feedback to stop")
    t_fault, wire_before = t, len(r.sniffer.frames)
    t, out = stream(core, arms, t, 120, sleep=False)  # 0.6 s of fake time
    last_left = max((tt for tt, a, _, _ in out if a == "left"), default=t_fault - DT)
    hold_latency = max(0.0, last_left - t_fault + DT)  # 0: not one frame after the fault
    time.sleep(0.05)
    print(f"\n{fault}: last motion frame {1e3 * hold_latency:.0f} ms after the fault; state {r.arm.state!r}")
    assert hold_latency <= 0.5 and r.arm.state != "ready"
    assert len(r.sniffer.frames) - wire_before == sum(1 for _, a, _, _ in out if a == "left")  # nothing after the hold
    expected = {"link lost": "link lost", "feedback stops": "link lost", "arm disabled": "arm disabled",
                "arm error": "arm error: collision"}[fault]
    assert r.arm.state == expected and core.state == "holding: no fresh feedback"
    assert any(a == "right" for _, a, _, _ in out[:5])  # the healthy arm is not the one that stopped
    # the cause goes away: the driver reports ready, the streamer restarts from the measured pose
    r.sim.link_up, r.sim.send_joint_feedback, r.sim.arm_status = True, True, 0
    r.sim.set_enabled(True)
    s = r.stamp()
    wait_until(lambda: r.stamp() != s and all(r.arm.motors_enabled()) and
               r.sdk.GetArmStatus().arm_status.arm_status == 0, what="recovery")
    n, pose = len(r.sim.motion_frames), r.arm.measured()
    t, out = stream(core, arms, t, 60)
    assert r.arm.state == "ready" and core.state == "streaming"
    sent = [q for _, a, q, _ in out if a == "left"]
    assert sent and [j for _, j in r.sim.motion_frames[n:]] == [to_sdk(q)[0] for q in sent]
    soft_step = ROBOT.safe_velocity[:7] * DT * ROBOT.soft_start_scale
    assert np.all(np.abs(sent[0] - pose) <= soft_step + 1e-9)  # restarted from where the arm is, at soft-start speed


def test_sdk_isok_goes_false_when_the_link_dies(rigs):
    """The SDK's own watchdog (no frame in 5 checks 50 ms apart) agrees with the driver's feedback age."""
    r = rigs("left")
    r.enable()
    assert r.sdk.isOk()
    r.sim.link_up = False
    t0 = time.monotonic()
    wait_until(lambda: not r.sdk.isOk(), timeout=3.0, what="isOk() false")
    print(f"\nSDK isOk() false {1e3 * (time.monotonic() - t0):.0f} ms after the link died (real time)")
    r.arm.tick(time.monotonic())
    assert r.arm.state == "link lost" and "isOk: False" in r.arm.detail
    r.sim.link_up = True
    wait_until(lambda: r.sdk.isOk(), timeout=3.0, what="isOk() true again")


def test_disable_on_shutdown(rigs):
    r = rigs("left")
    r.enable()
    r.arm.disable()
    wait_until(lambda: not r.sim.enabled, what="disabled")
    assert r.sim.disable_requests >= 1 and r.arm.tick(1.0) is False
