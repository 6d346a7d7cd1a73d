"""The GPU side: the RQ job, the worker process, posting results back to Discord.

This package's `__init__` and its `schema`, `keys`, `progress` modules stay torch-free:
`bot/` imports them. Only `worker.pipeline` (imported lazily by the job) loads models.
"""
