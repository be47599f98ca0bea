"""MuJoCo digital twin of the Cobot Magic (two AgileX Piper arms), its tasks, clean / randomized scenes,
scripted experts and the RoboTwin backend adapter.

Rendering is headless: MUJOCO_GL defaults to `egl` here (set MUJOCO_GL=osmesa before importing to fall
back to software OSMesa). It must be chosen before mujoco is first imported, hence at package import.
"""
import os

os.environ.setdefault("MUJOCO_GL", "egl")
