"""Cover of the Week / Month in Discord: the scheduler that posts each server's winner in its
awards channel and moves the winner role. What is due and who claimed it live in the core
(`albumify.awards`); the settings come from `/albumify-config` (`bot.awards.config`).
"""
