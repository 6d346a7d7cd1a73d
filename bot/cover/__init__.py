"""The cover feature: requests in (slash command, context menu, mention), jobs out to the queue,
the queue position shown until a worker takes over, and the result's Re-roll and Delete."""
