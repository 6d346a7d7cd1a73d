# The GPU worker: CUDA torch, the models, the pipeline.
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 YOLO_OFFLINE=1
WORKDIR /app
# facenet-pytorch pins old torch/numpy/Pillow but runs on current ones: install it without
# its dependencies (its MTCNN weights ship inside the wheel) and declare what it imports.
RUN pip install --no-cache-dir --no-deps "facenet-pytorch==2.6.0" \
 && pip install --no-cache-dir requests tqdm
# mediapipe ships the .tflite files LiteRT runs (person matte, face detector); it is never
# imported, and its dependencies (numpy < 2, the GUI OpenCV) would clash with ours.
RUN pip install --no-cache-dir --no-deps "mediapipe==0.10.21"
# nudenet ships 320n.onnx, the content check's detector (run by onnxruntime, a dependency in
# pyproject.toml); never imported, so none of its dependencies are wanted. AGPL-3.0.
RUN pip install --no-cache-dir --no-deps "nudenet==3.4.2"
# README.m[d]: the glob keeps the build working before the README exists.
COPY pyproject.toml README.m[d] ./
# Only the rooms the worker runs (docs/architecture.md); dev tools, tests and bench stay out.
COPY albumify ./albumify
COPY imaging ./imaging
COPY models ./models
COPY index ./index
COPY worker ./worker
# torch/torchvision come from the base image (CUDA build); pip keeps them when they satisfy
# the project's ranges.
# [search]: faiss-cpu, the approximate-search file of very large indexes (index/ann.py).
RUN pip install --no-cache-dir ".[search]"
RUN useradd --create-home albumify && mkdir -p /models && chown albumify /models
USER albumify
CMD ["albumify", "worker"]
