# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip takes these two from this machine's disk; other versions would download several GB.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH) -e '.[test,search,bench]'
	# facenet-pytorch pins an old torch in its metadata but runs on current ones; its MTCNN
	# weights ship inside the wheel. Its own imports (requests, tqdm) are our dependencies.
	$(BIN)/pip install --quiet --no-deps facenet-pytorch==2.6.0
	# MediaPipe's model files (person matte, face detector) for LiteRT: never imported, so
	# none of its dependencies (numpy < 2, the GUI OpenCV) are wanted.
	$(BIN)/pip install --quiet --no-deps mediapipe==0.10.21
	# NudeNet's detector (nudenet/320n.onnx) for the content check, run by onnxruntime: never
	# imported (its module pulls in OpenCV's DNN helpers). Licence: AGPL-3.0 (its LICENSE file;
	# the wheel's metadata says MIT).
	$(BIN)/pip install --quiet --no-deps nudenet==3.4.2
	# Test photos only (tests/photos.py reads its images, never imports it): insightface's own
	# dependencies would replace the headless OpenCV with the GUI build.
	$(BIN)/pip install --quiet --no-deps insightface==2.1
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	YOLO_OFFLINE=1 $(BIN)/albumify cover devtools/data/astronaut.png -o out/astronaut-cover.png \
		--title "Mission Control" --artist "Eileen Collins" --advisory

test: $(STAMP)
	YOLO_OFFLINE=1 $(BIN)/ruff check .
	YOLO_OFFLINE=1 $(BIN)/python -m pytest -q

bench: $(STAMP)
	YOLO_OFFLINE=1 $(BIN)/python -m bench

clean:
	rm -rf $(VENV) out .cache .pytest_cache
