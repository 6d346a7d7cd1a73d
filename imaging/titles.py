"""Lettering for members who type nothing: a generated title and a readable artist name.

Most members run `/albumify` with a photo and nothing else, and a cover without type reads as
a collage, not an album. The title comes from word lists bundled as package data
(titles.toml), picked by the matched cover's genre and the request's seed, in English or
Korean; the artist is the member's display name (or, on the command line, the photo's file
name made readable).
"""

from __future__ import annotations

import functools
import random
import re
import tomllib
from importlib import resources
from typing import Any

WORDS_FILE = "titles.toml"
DEFAULT_MOOD = "dream"
KOREAN_SHARE = {"glitter": 0.5}
"""Share of seeds that get a Korean title, per mood (k-pop lives in "glitter")."""
OTHER_KOREAN_SHARE = 0.12
HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")


@functools.cache
def word_lists() -> dict[str, Any]:
    text = resources.files("imaging").joinpath(WORDS_FILE).read_text("utf-8")
    return tomllib.loads(text)


def mood_for(genre: str | None) -> str:
    """The word-list mood of a genre: exact name first, then a genre word inside it."""
    genres: dict[str, str] = word_lists()["genres"]
    key = (genre or "").strip().lower()
    if key in genres:
        return genres[key]
    for word, mood in genres.items():
        if word in key:
            return mood
    return DEFAULT_MOOD


def language_for(artist: str, mood: str, rng: random.Random) -> str:
    """Korean for a Hangul name; otherwise mostly English, more often Korean for k-pop."""
    if HANGUL.search(artist or ""):
        return "ko"
    return "ko" if rng.random() < KOREAN_SHARE.get(mood, OTHER_KOREAN_SHARE) else "en"


def generate_title(genre: str | None, seed: int, artist: str = "", salt: str = "") -> str:
    """A title that fits `genre`, the same for the same arguments. `artist` and `salt` (the
    library cover) take part, so two members, or a re-roll, do not get the same title."""
    mood = mood_for(genre)
    rng = random.Random(f"title:{mood}:{seed}:{artist}:{salt}")
    language = language_for(artist, mood, rng)
    table = word_lists()[language]
    words = table[mood]
    pattern = rng.choice(table["patterns"])
    used: set[str] = set()

    def pick(match: re.Match[str]) -> str:
        kind = match.group(1)
        choices = [w for w in words[kind] if w not in used] or words[kind]
        word = rng.choice(choices)
        used.add(word)
        return word

    return re.sub(r"\{(\w+)\}", pick, pattern)


def artist_from_filename(stem: str) -> str:
    """`eileen_collins-portrait` → `Eileen Collins Portrait`; camera names stay as they are
    apart from the separators (`IMG_2041` → `IMG 2041`)."""
    words = re.sub(r"[_\-.+]+", " ", stem)
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words)  # camelCase → camel Case
    words = " ".join(words.split())
    if words and words == words.lower():
        words = words.title()
    return words or "Unknown Artist"
