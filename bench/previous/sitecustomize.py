"""Run at interpreter start-up when this folder is on PYTHONPATH: the pre-#15 backends."""

from bench.previous import use_previous_backends

use_previous_backends()
