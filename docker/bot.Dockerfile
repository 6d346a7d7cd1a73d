# The bot: discord.py + Redis/RQ only. No torch in this image (bot/ never imports it).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN pip install --no-cache-dir "discord.py>=2.4,<3" "redis>=8.2" "rq>=2.0" "aiohttp>=3.9" "platformdirs>=4"
# README.m[d]: the glob keeps the build working before the README exists.
COPY pyproject.toml README.m[d] ./
# Only the rooms the bot runs (docs/architecture.md); dev tools, tests and bench stay out.
COPY albumify ./albumify
COPY bot ./bot
# --no-deps: the project's own dependency list includes torch, which the bot must not pull in.
RUN pip install --no-cache-dir --no-deps .
RUN useradd --create-home albumify
USER albumify
CMD ["albumify", "bot"]
