"""`python -m worker [--burst] [--name NAME]` (the same as `albumify worker`)."""

from __future__ import annotations

import argparse

from albumify.settings import Settings
from worker.service import run

parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
parser.add_argument("--name", help="worker name (default: RQ's)")
arguments = parser.parse_args()
raise SystemExit(run(Settings.from_env(), burst=arguments.burst, name=arguments.name))
