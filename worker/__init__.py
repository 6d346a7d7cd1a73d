"""The GPU side: the RQ job, the pipeline, posting results back to Discord.

It stands beside `bot/` on the shared core (`albumify`) and never imports it; the bot reaches
the worker only through the queue (`albumify.schema`). Models load once per process.
"""
