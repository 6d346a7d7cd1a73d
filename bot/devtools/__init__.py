"""Development tools shipped with the bot: a loopback Discord and `albumify demo`.

Nothing here is imported by the running bot; it needs only aiohttp, redis and rq.
"""
