"""A simulated Piper arm on a python-can bus: the other end of piper_sdk for tests and dry runs (no hardware).

On its own bus (python-can `virtual` by default, same channel as the SDK's; in-process only) it
- answers the enable handshake: a 0x471 frame (motor 7 = all, flag 0x02 enable / 0x01 disable) sets the six
  motors' enable bit in the low-speed driver feedback (0x261..0x266, bit 6) after `enable_delay` frames;
  `refuse_enable` never sets it;
- sends feedback at `rate_hz`: arm status 0x2A1 (`arm_status`), joints 0x2A5..0x2A7 (0.001 deg, big endian),
  gripper 0x2A8 (0.001 mm), low-speed driver info 0x261..0x266;
- decodes every command frame with piper_sdk's own parser (C_PiperParserV2): MotionCtrl_2 0x151, JointCtrl
  0x155..0x157, GripperCtrl 0x159; while enabled the joints follow the newest JointCtrl target and the gripper
  the newest GripperCtrl target (at once: a perfect position servo);
- `send_joint_feedback = False` stops only the joint / gripper feedback (status and driver frames go on);
- `link_up = False` drops the link both ways (a pulled cable): nothing sent, nothing received.

`motion_frames` records (time.monotonic(), joints [6 x 0.001 deg]) for every complete JointCtrl triple.
"""
from __future__ import annotations

import struct
import threading
import time


class SimulatedPiper:
    def __init__(self, channel: str, interface: str = "virtual", rate_hz: float = 200.0,
                 joints_mdeg=(0, 90000, -77000, 0, 0, 0), gripper_um: int = 40000, enable_delay: int = 3,
                 refuse_enable: bool = False):
        import can
        from piper_sdk.piper_msgs.msg_v2 import PiperMessage
        from piper_sdk.protocol.protocol_v2 import C_PiperParserV2

        self._can = can
        self.bus = can.Bus(interface=interface, channel=channel, receive_own_messages=False)
        self._parser, self._msg = C_PiperParserV2(), PiperMessage()
        self.period = 1.0 / rate_hz
        self.lock = threading.Lock()
        self.joints = list(joints_mdeg)
        self.gripper = int(gripper_um)
        self.enabled = False
        self.enable_delay, self.refuse_enable = enable_delay, refuse_enable
        self._enable_countdown: int | None = None
        self.arm_status = 0x00
        self.link_up = True
        self.send_joint_feedback = True  # False: joint + gripper feedback stop, the rest of the link stays up
        self.speed_percent: int | None = None
        self.ctrl_mode: int | None = None
        self.gripper_commands: list[tuple[float, int, int, int]] = []  # (t, angle, effort, code)
        self.motion_frames: list[tuple[float, list[int]]] = []
        self.enable_requests = 0
        self.disable_requests = 0
        self._pending: dict[int, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send_loop, daemon=True),
                         threading.Thread(target=self._recv_loop, daemon=True)]
        for t in self._threads:
            t.start()

    # -- bus -----------------------------------------------------------------------------------------------
    def _frame(self, can_id: int, data: bytes):
        return self._can.Message(arbitration_id=can_id, data=data, is_extended_id=False)

    def _send_loop(self):
        next_t = time.monotonic()
        while not self._stop.is_set():
            if self.link_up:
                with self.lock:
                    j, g, enabled, status = list(self.joints), self.gripper, self.enabled, self.arm_status
                frames = [self._frame(0x2A1, bytes([0x01, status, 0, 0, 0, 0, 0, 0]))]
                if self.send_joint_feedback:
                    frames += [self._frame(0x2A5, struct.pack(">ii", j[0], j[1])),
                               self._frame(0x2A6, struct.pack(">ii", j[2], j[3])),
                               self._frame(0x2A7, struct.pack(">ii", j[4], j[5])),
                               self._frame(0x2A8, struct.pack(">ihBB", g, 1000, 0x40 if enabled else 0, 0))]
                foc = 0x40 if enabled else 0x00  # bit 6: driver enabled
                frames += [self._frame(0x261 + i, struct.pack(">HhbBH", 240, 30, 30, foc, 0)) for i in range(6)]
                for f in frames:
                    try:
                        self.bus.send(f)
                    except self._can.CanError:
                        return
            next_t += self.period
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def _recv_loop(self):
        while not self._stop.is_set():
            try:
                frame = self.bus.recv(0.05)
            except self._can.CanError:
                return
            if frame is None or not self.link_up:
                continue
            self._on_frame(frame)

    def _on_frame(self, frame) -> None:
        can_id, data = frame.arbitration_id, bytes(frame.data)
        with self.lock:
            if can_id == 0x471:  # not in the SDK's decoder (transmit only): motor_num, enable_flag
                if data[1] == 0x02:
                    self.enable_requests += 1
                    if not self.refuse_enable and not self.enabled and self._enable_countdown is None:
                        self._enable_countdown = self.enable_delay
                elif data[1] == 0x01:
                    self.disable_requests += 1
                    self.enabled, self._enable_countdown = False, None
                if self._enable_countdown is not None:
                    self._enable_countdown -= 1
                    if self._enable_countdown <= 0:
                        self.enabled, self._enable_countdown = True, None
                return
            if not self._parser.DecodeMessage(frame, self._msg):
                return
            m = self._msg
            if can_id == 0x151:
                self.ctrl_mode, self.speed_percent = m.arm_motion_ctrl_2.ctrl_mode, m.arm_motion_ctrl_2.move_spd_rate_ctrl
            elif can_id in (0x155, 0x156, 0x157):
                c = m.arm_joint_ctrl
                pair = {0x155: (c.joint_1, c.joint_2), 0x156: (c.joint_3, c.joint_4), 0x157: (c.joint_5, c.joint_6)}[can_id]
                self._pending[can_id] = pair
                if can_id == 0x157 and len(self._pending) == 3:
                    target = [*self._pending[0x155], *self._pending[0x156], *self._pending[0x157]]
                    self._pending.clear()
                    self.motion_frames.append((time.monotonic(), target))
                    if self.enabled and self.arm_status == 0:
                        self.joints = target
            elif can_id == 0x159:
                g = m.arm_gripper_ctrl
                self.gripper_commands.append((time.monotonic(), g.grippers_angle, g.grippers_effort, g.status_code))
                if self.enabled and g.status_code == 0x01:
                    self.gripper = g.grippers_angle

    # -- test controls -------------------------------------------------------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        with self.lock:
            self.enabled = enabled

    def frames_since(self, t: float) -> int:
        with self.lock:
            return sum(1 for stamp, _ in self.motion_frames if stamp > t)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=1.0)
        self.bus.shutdown()
