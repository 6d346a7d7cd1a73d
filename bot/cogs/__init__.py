"""One cog per feature; `AlbumifyBot.setup_hook` loads each extension listed here."""

EXTENSIONS: tuple[str, ...] = (
    "bot.cogs.albumify",
    "bot.leaderboard.cog",
    "bot.cogs.status",
)
