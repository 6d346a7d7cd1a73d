"""One cog per feature; `AlbumifyBot.setup_hook` loads each extension listed here."""

EXTENSIONS: tuple[str, ...] = (
    "bot.cogs.albumify",
    # "bot.cogs.leaderboard",  # the leaderboards issue: boards, Vote button (albumify:vote:…)
)
