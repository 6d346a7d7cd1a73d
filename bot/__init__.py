"""The Discord side: an async discord.py bot that validates, rate-limits and enqueues.

Never imports torch (directly or through `worker` modules): it runs in a small image.
"""
