"""The live monitor's core: what the robot sees and does, logged to a rerun recording (no ROS here).

Entities (one recording, timeline `time` = the messages' stamps)::

    cameras/{head,left,right}                   Image (RGB)
    features/{spatial,motion}                   Image: System 2's filtered-feature heat-maps
    joints/<arm>/<joint>/{command,feedback,lower,upper}   Scalars: commands against feedback and the limits
    world/path/<arm>, world/goal/<arm>          LineStrips3D / Points3D: fingertip path of the newest chunk (FK)
    world/arm/<arm>                             LineStrips3D: the measured arm (link origins, FK of the feedback)
    diagnostics                                 TextLog: every /diagnostics status (level = its level)
    status                                      TextDocument: e-stop state and the streamer's state
    safety/estop                                Scalars: 1 while the e-stop is engaged

`MonitorCore.serve()` starts rerun's gRPC server and its web viewer (offline: the viewer's wasm ships in
rerun-sdk) and returns the page's URL. The ROS adapter (ros/web_monitor_node.py) and the replays
(monitor/replay.py) feed it through monitor/messages.py.
"""
from __future__ import annotations

import numpy as np

ARMS = ("left", "right")
CAMERAS = ("head", "left", "right")
JOINTS = ("j1", "j2", "j3", "j4", "j5", "j6", "gripper")
LEVELS = {0: "INFO", 1: "WARN", 2: "ERROR", 3: "WARN"}  # diagnostic_msgs levels -> rerun TextLog levels
LIMITS_PERIOD = 0.5  # s between two points of the (constant) joint-limit lines
ARM_COLORS = {"left": (217, 115, 38), "right": (51, 115, 217)}
# link origins drawn for the measured arm, base to fingers (runtime/kinematics link names)
ARM_LINKS = ("base_link", "link1", "link2", "link3", "link4", "link5", "link6", "gripper_base")


def blueprint(cameras=CAMERAS, heatmaps=("spatial", "motion")):
    """The page's layout: cameras and heat-maps on top, joints / path / diagnostics below."""
    import rerun.blueprint as rrb

    joint_tabs = [rrb.Grid(*[rrb.TimeSeriesView(origin=f"joints/{arm}/{j}", name=f"{arm} {j}",
                                                plot_legend=rrb.PlotLegend(visible=j == JOINTS[0]))
                             for j in JOINTS], name=f"{arm} arm joints") for arm in ARMS]
    # looking at both arms from behind and above their bases (world: x forward, y left, z up; config/sim.yaml)
    eye = rrb.EyeControls3D(position=(-0.75, -0.55, 1.45), look_target=(0.3, 0.0, 0.8), eye_up=(0.0, 0.0, 1.0))
    return rrb.Blueprint(
        rrb.Vertical(
            rrb.Horizontal(*[rrb.Spatial2DView(origin=f"cameras/{c}", name=f"camera {c}") for c in cameras],
                           *[rrb.Spatial2DView(origin=f"features/{h}", name=f"System 2 {h}") for h in heatmaps]),
            rrb.Horizontal(
                rrb.Tabs(*joint_tabs),
                rrb.Spatial3DView(origin="world", name="arms and predicted path", eye_controls=eye),
                rrb.Vertical(rrb.TextDocumentView(origin="status", name="e-stop"),
                             rrb.TextLogView(origin="diagnostics", name="diagnostics"), row_shares=[1, 2]),
                column_shares=[3, 2, 2]),
            row_shares=[2, 3]),
        rrb.BlueprintPanel(state="collapsed"), rrb.SelectionPanel(state="collapsed"),
        # live: the viewer follows the newest data (it does not play from the start at 1x)
        rrb.TimePanel(state="collapsed", timeline="time", play_state="following"))


class MonitorCore:
    """Logs the robot's streams to a rerun RecordingStream; every method takes the data and its stamp (s).

    Args:
        limits: (lower (7,), upper (7,)) per-arm joint limits (default config/robot.yaml).
        kinematics: runtime.kinematics.DualArmKinematics for the path and the arm drawing (default from config).
        recording: a rerun.RecordingStream (default: a new one, application id "video2act_monitor").
    """

    def __init__(self, limits=None, kinematics=None, recording=None):
        import rerun as rr

        from video2act.config import load_config
        from video2act.runtime.kinematics import DualArmKinematics

        if limits is None:
            robot = load_config("robot.yaml")["robot"]
            limits = (robot["lower"], robot["upper"])
        self.lower, self.upper = (np.asarray(v, dtype=float).reshape(7) for v in limits)
        self.kin = kinematics or DualArmKinematics.from_config()
        self.rec = recording or rr.RecordingStream("video2act_monitor")
        self.counts = {"camera": 0, "heatmap": 0, "feedback": 0, "command": 0, "chunk": 0, "diagnostics": 0}
        self.estop: bool | None = None
        self.url: str | None = None
        self._limits_logged: dict[str, float] = {}
        self._static()

    def _static(self) -> None:
        import rerun as rr

        self.rec.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        styles = {"command": ((230, 160, 30), "command", 2.0), "feedback": ((40, 140, 230), "feedback", 2.0),
                  "lower": ((200, 40, 40), "lower limit", 1.0), "upper": ((200, 40, 40), "upper limit", 1.0)}
        for arm in ARMS:
            for j in JOINTS:
                for series, (color, name, width) in styles.items():
                    self.rec.log(f"joints/{arm}/{j}/{series}", rr.SeriesLines(colors=[color], names=[name], widths=[width]),
                                 static=True)
        self.rec.log("status", rr.TextDocument("waiting for the trajectory streamer's diagnostics ...",
                                               media_type=rr.MediaType.MARKDOWN))

    def _time(self, stamp: float) -> None:
        import rerun as rr

        # wall-clock stamps as dates; simulated time (small numbers) as a duration since the start
        if stamp > 1e9:
            rr.set_time("time", timestamp=float(stamp), recording=self.rec)
        else:
            rr.set_time("time", duration=float(stamp), recording=self.rec)

    def serve(self, web_port: int = 9090, grpc_port: int = 9876, open_browser: bool = False,
              memory_limit: str = "512MiB", host: str = "127.0.0.1") -> str:
        """Serve the recording to rerun's web viewer; returns the page URL (viewer connected to the stream).

        Both servers listen on every interface (rerun's choice); `host` is the name the page (and the browser
        that opens it) uses to reach them: 127.0.0.1 on this machine, the robot's name from another one."""
        import rerun as rr

        uri = rr.serve_grpc(grpc_port=grpc_port, default_blueprint=blueprint(), recording=self.rec,
                            server_memory_limit=memory_limit)
        uri = uri.replace("127.0.0.1", host)
        rr.serve_web_viewer(web_port=web_port, open_browser=open_browser, connect_to=uri)
        self.url = f"http://{host}:{web_port}/?url={uri}"
        return self.url

    def camera(self, cam: str, rgb: np.ndarray, stamp: float) -> None:
        import rerun as rr

        self._time(stamp)
        self.rec.log(f"cameras/{cam}", rr.Image(np.ascontiguousarray(rgb), color_model="RGB"))
        self.counts["camera"] += 1

    def heatmap(self, name: str, rgb: np.ndarray, stamp: float) -> None:
        """A heat-map already colour-mapped (system2_node's rgb8), or a 2-D float map (colour-mapped here)."""
        import rerun as rr

        img = np.asarray(rgb)
        if img.ndim == 2:
            img = colormap(img)
        self._time(stamp)
        self.rec.log(f"features/{name}", rr.Image(np.ascontiguousarray(img), color_model="RGB"))
        self.counts["heatmap"] += 1

    def _joints(self, kind: str, arm: str, positions, stamp: float) -> np.ndarray:
        import rerun as rr

        q = np.asarray(positions, dtype=float).reshape(-1)
        if q.size < 7 or not np.all(np.isfinite(q[:7])):
            raise ValueError(f"{arm} {kind} needs 7 finite positions (6 joints + gripper), got {q.tolist()}")
        self._time(stamp)
        for i, j in enumerate(JOINTS):
            self.rec.log(f"joints/{arm}/{j}/{kind}", rr.Scalars(q[i]))
        return q[:7]

    def feedback(self, arm: str, positions, stamp: float) -> None:
        """Measured joints of one arm (7: j1..j6 rad, gripper m): plotted with the limits, and the arm drawn in 3-D."""
        import rerun as rr

        from video2act.runtime.kinematics import link_poses

        q = self._joints("feedback", arm, positions, stamp)
        if abs(stamp - self._limits_logged.get(arm, -np.inf)) >= LIMITS_PERIOD:  # constant lines: a few points do
            self._limits_logged[arm] = stamp
            for i, j in enumerate(JOINTS):
                self.rec.log(f"joints/{arm}/{j}/lower", rr.Scalars(self.lower[i]))
                self.rec.log(f"joints/{arm}/{j}/upper", rr.Scalars(self.upper[i]))
        mount = next(m for m in self.kin.mounts if m.name == arm)
        poses = link_poses(q[:6], float(q[6]))
        points = np.array([(mount.pose @ poses[name])[:3, 3] for name in ARM_LINKS])
        self.rec.log(f"world/arm/{arm}", rr.LineStrips3D([points], colors=[ARM_COLORS[arm]], radii=[0.008]))
        self.counts["feedback"] += 1

    def command(self, arm: str, positions, stamp: float) -> None:
        """Commanded joints of one arm (what the streamer sends to the driver)."""
        self._joints("command", arm, positions, stamp)
        self.counts["command"] += 1

    def chunk(self, chunk, stamp: float) -> None:
        """An action chunk (H, 14): both arms' fingertip paths (FK) and where they end."""
        import rerun as rr

        c = np.asarray(chunk, dtype=float)
        if c.ndim != 2 or c.shape[1] != 14 or not len(c) or not np.all(np.isfinite(c)):
            raise ValueError(f"action chunk must be a finite (H, 14) array, got {c.shape}")
        self._time(stamp)
        for arm, xyz in zip(ARMS, self.kin.fingertip_paths(c)):
            self.rec.log(f"world/path/{arm}", rr.LineStrips3D([xyz], colors=[(60, 180, 75)], radii=[0.003]))
            self.rec.log(f"world/goal/{arm}", rr.Points3D([xyz[-1]], colors=[(60, 180, 75)], radii=[0.01]))
        self.counts["chunk"] += 1

    def diagnostics(self, statuses, stamp: float) -> None:
        """[(name, level 0..3, message, {key: value text}), ...]: a log line each; the streamer's `estop`
        value updates the e-stop panel."""
        import rerun as rr

        self._time(stamp)
        for name, level, message, values in statuses:
            text = f"{name}: {message}" + ("  " + ", ".join(f"{k}={v}" for k, v in values.items()) if values else "")
            self.rec.log("diagnostics", rr.TextLog(text, level=LEVELS.get(int(level), "WARN")))
            if "estop" in values:
                self.set_estop(str(values["estop"]).lower() == "true", stamp, state=values.get("state", message))
        self.counts["diagnostics"] += 1

    def set_estop(self, engaged: bool, stamp: float, state: str = "") -> None:
        import rerun as rr

        self._time(stamp)
        self.estop = bool(engaged)
        self.rec.log("safety/estop", rr.Scalars(1.0 if engaged else 0.0))
        headline = "# E-STOP ENGAGED\nThe streamer holds the arms; call `~/resume` to continue." if engaged \
            else "# running\nE-stop released."
        self.rec.log("status", rr.TextDocument(headline + (f"\n\nstreamer state: **{state}**" if state else ""),
                                               media_type=rr.MediaType.MARKDOWN))


def colormap(heat: np.ndarray, width: int = 256) -> np.ndarray:
    """(h, w) float -> (H, width, 3) uint8 RGB: min..max of the map through the jet colour map, nearest-neighbour
    upscaled (what system2_node publishes for RViz)."""
    import cv2

    h = np.nan_to_num(np.asarray(heat, dtype=np.float32))
    span = float(np.ptp(h)) if h.size else 0.0
    grey = (255 * ((h - h.min()) / span if span > 0 else np.zeros_like(h))).astype(np.uint8)
    grey = cv2.resize(grey, (width, max(1, round(width * grey.shape[0] / grey.shape[1]))), interpolation=cv2.INTER_NEAREST)
    return cv2.applyColorMap(grey, cv2.COLORMAP_JET)[:, :, ::-1].copy()
