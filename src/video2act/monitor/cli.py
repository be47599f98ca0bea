"""`video2act monitor`: the live monitor in a web page (rerun's web viewer), where RViz is not installed.

    video2act monitor                                        # live, from the ROS topics; open the printed URL
    video2act monitor --bag bags/ep1                         # replay a rosbag2 recording (no ROS needed)
    video2act monitor --dataset data/bottles --episode 3     # replay a dataset episode (any layout)
    video2act monitor --dataset data/bottles --shipped       # ... run through the shipped policy (heat-maps, plans)
    video2act monitor --dataset data/bottles --shipped --rate 0 --screenshot docs/monitor.png   # a picture of the page
"""
from __future__ import annotations

import sys
import threading
import time


def register(subparsers, bench_subparsers) -> None:
    mon = subparsers.add_parser(
        "monitor", help="live web monitor: cameras, System 2 heat-maps, joints vs limits, path, diagnostics, e-stop",
        description="Serves rerun's web viewer with what RViz shows: live from the ROS topics (config/robot.yaml), "
                    "or replaying a rosbag2 recording or a dataset episode.")
    src = mon.add_mutually_exclusive_group()
    src.add_argument("--bag", help="replay this rosbag2 folder (mcap / sqlite3) instead of listening to ROS")
    src.add_argument("--dataset", help="replay an episode of this dataset instead of listening to ROS")
    mon.add_argument("--episode", type=int, default=0, help="dataset episode to replay (default 0)")
    pol = mon.add_mutually_exclusive_group()
    pol.add_argument("--checkpoint", help="dataset replays: run this policy on the episode (System 2 heat-maps, "
                                          "System 1's planned path)")
    pol.add_argument("--shipped", action="store_true", help="dataset replays: run the shipped policy (policies/small)")
    mon.add_argument("--rate", type=float, default=1.0, help="replay speed (1 = real time, 0 = as fast as possible)")
    mon.add_argument("--web-port", type=int, default=9090, help="web page port (default 9090)")
    mon.add_argument("--grpc-port", type=int, default=9876, help="rerun gRPC port the page streams from (default 9876)")
    mon.add_argument("--host", default="127.0.0.1", help="host name the page reaches the servers by (default 127.0.0.1; "
                                                         "this machine's name to watch from another one)")
    mon.add_argument("--open-browser", action="store_true", help="open the page in the default browser")
    mon.add_argument("--screenshot", metavar="PNG", help="replays only: save the page as drawn by headless Chromium "
                                                         "after the replay, then exit")
    mon.add_argument("--screenshot-wait", type=float, default=20.0,
                     help="seconds the page gets to draw after the replay before the screenshot (default 20)")
    mon.set_defaults(func=cmd_monitor)


def cmd_monitor(args) -> int:
    if not args.bag and not args.dataset:
        if args.screenshot:
            raise SystemExit("--screenshot needs a replay (--bag or --dataset)")
        from video2act.ros.web_monitor_node import main

        return main(["web_monitor_node", "--ros-args", "-p", f"web_port:={args.web_port}", "-p",
                     f"grpc_port:={args.grpc_port}", "-p", f"open_browser:={str(args.open_browser).lower()}",
                     "-p", f"host:={args.host}"])
    from video2act.monitor.core import MonitorCore
    from video2act.monitor.replay import replay_bag, replay_episode

    core = MonitorCore()
    url = core.serve(args.web_port, args.grpc_port, args.open_browser and not args.screenshot, host=args.host)
    print(f"monitor page: {url}", flush=True)
    page = None
    try:
        if args.screenshot:  # the page loads (tens of seconds in software WebGL) while the replay runs
            from video2act.monitor.browser import open_page

            page = open_page(url)
        start = time.monotonic()
        if args.bag:
            r = replay_bag(core, args.bag, args.rate)
            print(f"replayed {r['messages']} messages ({r['dropped']} dropped) of {args.bag} in {time.monotonic() - start:.1f} s")
        else:
            policy = None
            if args.checkpoint or args.shipped:
                from video2act.model.checkpoint import load_policy
                from video2act.training.evaluate import shipped_checkpoint

                policy = load_policy(str(shipped_checkpoint() if args.shipped else args.checkpoint), "", 1)
            steps = replay_episode(core, args.dataset, args.episode, args.rate, policy=policy)
            print(f"replayed {steps} steps of {args.dataset} episode {args.episode} in {time.monotonic() - start:.1f} s")
        if page is not None:
            import cv2

            from video2act.monitor.browser import screenshot

            time.sleep(args.screenshot_wait)
            cv2.imwrite(args.screenshot, screenshot(page)[:, :, ::-1])
            print(f"screenshot {args.screenshot}")
            return 0
    finally:
        if page is not None:  # never leave Chromium / chromedriver behind, whatever failed above
            page.quit()
    print("serving; Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    from video2act.cli import main

    sys.exit(main(["monitor", *sys.argv[1:]]))
