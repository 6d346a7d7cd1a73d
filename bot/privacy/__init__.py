"""Privacy: `/albumify-forget` (also in the bot's DMs) and a moderator's forget for a user id."""
