"""Demonstration datasets: format, writers (twin experts, rosbag2), System 2 latent cache, training windows.

Dataset format (one folder)::

    DIR/
      meta.json                  format version, fps, cameras, image_size [H, W], episodes
                                 [{index, file, length, instruction, task, source}], stats
                                 {state|action: {mean, std, min, max}} (14-d lists)
      episode_000000.npz         compressed; images_<camera> (T, H, W, 3) uint8 RGB, one per camera,
      episode_000001.npz         state (T, 14) float32 measured joints, action (T, 14) float32 the commanded
      ...                        joint target of that step, instruction () str
      latents/<key>/             System 2 VAE latents of the head camera (data/latents.py), keyed by the
                                 preset name and a hash of the VAE weights and resolutions

or the LeRobot v3.0 layout (data/lerobot.py: meta/info.json, parquet for state / action / time, one mp4 per
camera), which the same reader (format.Dataset) detects and training reads alike. `video2act dataset convert`
goes between the two; `dataset from-hdf5` imports Cobot Magic / ACT / RoboTwin HDF5 episodes (data/hdf5.py).

14-d layout: [left j1..j6, left gripper, right j1..j6, right gripper] (rad, gripper opening in m).
Step t pairs the observation taken before the command with that command: state[t] and images[t] are
what the policy sees, action[t] is what it should send.

Modules: format (read/write, stats), lerobot (LeRobot v3.0 layout; lerobot_stats: its feature stats), hdf5 (HDF5 import), generate (scripted experts on the twin), bags (rosbag2 -> episodes),
latents (per-frame VAE latent cache), windows (training samples), cli (`video2act dataset ...`).
"""
