"""`kozo demo`: the command that starts the local system."""

from __future__ import annotations

import argparse
from pathlib import Path

from kozo.arguments import add_command


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    demo = add_command(
        commands, "demo", help="run the local system: hub, edge daemon, simulated instrument",
        description="Start a hub and an edge daemon on loopback with a simulated instrument.\n"
                    "The instrument writes perovskite structures (built from a prototype with\n"
                    "pymatgen, or taken from --data with their reference values), diffraction\n"
                    "patterns, micrographs and a log. The edge sends them to the hub with a\n"
                    "quick-check prediction from the shipped model; the terminal shows each\n"
                    "file as it arrives. Ctrl-C stops everything.\n\n"
                    "Example:\n"
                    "  kozo demo\n"
                    "  kozo demo --data ../shared/data/perov_5 --interval 1 --duration 60")
    demo.add_argument("--folder", type=Path, default=Path(".kozo-demo"),
                      help="where the demo keeps its hub, spool and instrument files; "
                           "wiped at start (default: .kozo-demo)")
    demo.add_argument("--port", type=int, default=8470, help="the hub's port (default: 8470)")
    demo.add_argument("--interval", type=float, default=3.0,
                      help="seconds between instrument runs (default: 3)")
    demo.add_argument("--runs", type=int, help="stop the instrument after this many runs")
    demo.add_argument("--duration", type=float,
                      help="seconds to run, then stop everything (default: until Ctrl-C)")
    demo.add_argument("--data", type=Path,
                      help="a CDVAE-layout CSV or folder (e.g. ../shared/data/perov_5): "
                           "samples with reference values")
    demo.set_defaults(run=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from kozo.demo.runner import DemoSettings, run_demo
    from kozo.errors import KozoError

    if args.interval < 0 or (args.duration is not None and args.duration <= 0):
        raise KozoError("--interval must be ≥ 0 and --duration > 0 seconds")
    if args.data is not None and not args.data.exists():
        raise KozoError(f"--data {args.data}: no such file or folder")
    run_demo(DemoSettings(folder=args.folder, port=args.port, interval=args.interval,
                          runs=args.runs, duration=args.duration, data=args.data))
    return 0
