"""The worker process: an RQ SimpleWorker that loads the pipeline once and keeps it.

SimpleWorker runs jobs in its own process, so models loaded at start stay loaded (a forking
worker would reload them per job, and CUDA does not survive a fork). SIGTERM is RQ's warm
shutdown: the current job finishes, then the process exits.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from albumify.settings import Settings
from worker import job as job_module

log = logging.getLogger(__name__)

MAINTENANCE_INTERVAL_S = 30
"""A killed worker's job is re-queued by another worker's maintenance pass: keep it short."""


class AlbumifyWorker(SimpleWorker):
    """Loads the pipeline (models + index, CUDA when present) before taking the first job."""

    def __init__(self, *args: Any, settings: Settings, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", JSONSerializer)
        kwargs.setdefault("log_job_description", False)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL_S)
        super().__init__(*args, **kwargs)
        self.settings = settings

    def load_pipeline(self) -> None:
        job_module.set_pipeline(job_module.loaded_pipeline(), self.settings)
        if job_module.loaded_pipeline() is None:
            from worker.pipeline import Pipeline

            log.info("loading the pipeline")
            started = time.perf_counter()
            pipeline = Pipeline.load(self.settings)
            loaded = time.perf_counter()
            warm = pipeline.warm_up()
            job_module.set_pipeline(pipeline, self.settings)
            log.info(
                "pipeline ready: start-up took %.1f s (loading %.1f s, warm-up %.1f s); %s",
                time.perf_counter() - started,
                loaded - started,
                warm,
                ", ".join(f"{k}={v}" for k, v in pipeline.stages.names().items()),
            )

    def work(self, *args: Any, **kwargs: Any) -> bool:
        self.load_pipeline()
        return super().work(*args, **kwargs)


def build_worker(
    settings: Settings, *, connection: Redis, name: str | None = None
) -> AlbumifyWorker:
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    return AlbumifyWorker([queue], connection=connection, name=name, settings=settings)


def run(settings: Settings, *, burst: bool = False, name: str | None = None) -> int:
    """`albumify worker`: process the albumify queue until stopped (or empty, with burst)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    connection = Redis.from_url(settings.redis_url)
    worker = build_worker(settings, connection=connection, name=name)
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    return 0
