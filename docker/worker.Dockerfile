# The GPU worker: CUDA torch, the models, the pipeline.
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 YOLO_OFFLINE=1
WORKDIR /app
# facenet-pytorch pins old torch/numpy/Pillow but runs on current ones: install it without
# its dependencies (its MTCNN weights ship inside the wheel) and declare what it imports.
RUN pip install --no-cache-dir --no-deps "facenet-pytorch==2.6.0" \
 && pip install --no-cache-dir requests tqdm
# README.m[d]: the glob keeps the build working before the README exists.
COPY pyproject.toml README.m[d] ./
COPY albumify ./albumify
COPY bot ./bot
COPY worker ./worker
COPY imaging ./imaging
COPY index ./index
COPY models ./models
# torch/torchvision come from the base image (CUDA build); pip keeps them when they satisfy
# the project's ranges.
RUN pip install --no-cache-dir .
RUN useradd --create-home albumify && mkdir -p /models && chown albumify /models
USER albumify
CMD ["albumify", "worker"]
