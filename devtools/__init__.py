"""Development tools, installed with the project so `albumify demo` works after `pip install`:
the loopback Discord, private redis-server processes and the demo.

The running bot and worker never import this package, and neither Docker image ships it; it
needs only aiohttp, redis and rq (and Pillow for the demo's page).
"""
