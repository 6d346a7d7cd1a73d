"""Server leaderboards in Discord: the Vote button, /leaderboard, /cover top, stats, moderation,
settings and forget. The data and its rules live in the core (`albumify.boards`,
`albumify.results`, `albumify.guilds`); this feature turns them into commands and embeds.
"""
