"""teleop_node: scripted teleoperation of the simulator through the ROS graph.

Design (the simplest honest one): the scripted operator needs the live simulation state (privileged
object poses) every step, which lives in the simulator bridge. So teleoperation is a mode of the
bridge: it runs the task's scripted expert (video2act.sim.experts) and publishes the expert's
targets on /master/joint_left|right, then follows those topics like any operator's commands. A
recorder (rosbag2 / `video2act dataset`) sees exactly what it sees with a person teleoperating:
commands on /master/*, feedback on /puppet/*, three cameras, /sim/episode.

This node is `sim_bridge_node` with teleop:=true (all other parameters are the bridge's):

    teleop_node --ros-args -p task:=handover_block -p seed:=3 -p mode:=lockstep
"""
from __future__ import annotations

import sys

from video2act.ros import sim_bridge_node


def main(args=None) -> int:
    argv = list(sys.argv if args is None else args)
    if "--ros-args" not in argv:
        argv.append("--ros-args")
    argv += ["-p", "teleop:=true"]  # later -p values win: teleop is always on here
    return sim_bridge_node.main(argv)


if __name__ == "__main__":
    sys.exit(main())
