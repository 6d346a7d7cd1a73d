# The bot: discord.py + Redis/RQ only. No torch in this image (bot/ never imports it).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN pip install --no-cache-dir "discord.py>=2.4,<3" "redis>=5" "rq>=2.0" "aiohttp>=3.9" "platformdirs>=4"
# README.m[d]: the glob keeps the build working before the README exists.
COPY pyproject.toml README.m[d] ./
COPY albumify ./albumify
COPY bot ./bot
COPY worker ./worker
COPY imaging ./imaging
COPY index ./index
COPY models ./models
# --no-deps: the project's own dependency list includes torch, which the bot must not pull in.
RUN pip install --no-cache-dir --no-deps .
RUN useradd --create-home albumify
USER albumify
CMD ["albumify", "bot"]
