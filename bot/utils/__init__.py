"""Small helpers for the bot's cogs (no Discord state of their own)."""
