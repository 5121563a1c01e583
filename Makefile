# The README's commands. `make demo` and `make test` each set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Rebuilt whenever the dependencies change.
STAMP := $(VENV)/.installed-stamp
# npm ci writes it: the static Space's JavaScript libraries, at package-lock.json's versions.
NODE_STAMP := node_modules/.package-lock.json

.PHONY: setup system-deps demo test figures pretrained examples constraints requirements clean

setup: system-deps $(STAMP) $(NODE_STAMP)

# Debian packages the tests use, where apt-get runs as root: the real Fashion-MNIST and
# Chromium for the browser tests (Playwright drives it; it cannot download its own here), and
# Node.js with npm where no npm is on the PATH (the static Space's libraries come from npm).
DEBIAN_PACKAGES := dataset-fashion-mnist chromium
system-deps:
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(DEBIAN_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	  done; \
	  command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	  if [ -n "$$missing" ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	  fi; \
	else \
	  echo "No root apt-get here: skipping $(DEBIAN_PACKAGES); Fashion-MNIST will be downloaded by torchvision."; \
	fi

# The project with every extra, at the exact versions of constraints.txt (pyproject.toml gives
# ranges), so the tests and CI run with what they were written against.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[dev]"
	touch $@

# The JavaScript libraries that `python -m model.publishing.space build --static` vendors (node 18+ and npm).
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: install Node.js 18+ with npm (Debian: apt-get install nodejs npm); the static Space vendors its libraries from npm"; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund

# Serve the app with the shipped model on http://127.0.0.1:7860.
demo: setup
	$(PY) app.py

test: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

# Regenerate the README's figures from the shipped model and the dataset.
figures: setup
	$(PY) -m model.training.report --model model/pretrained --out images

# Train the shipped model into model/pretrained/, replacing the one there (the `default` preset;
# docs/performance.md gives its time on each kind of CPU), and drop the checkpoint; where the real
# photos lie beside the checkout, fit the photo calibration on the larger set, so that the smaller one
# checks it; then add the ONNX weights, measure the model on the smaller set, the product photos and
# the test set as shop photos (the card and docs report them), copy both reliability diagrams into
# images/ and write the README's and docs' figures from the new metrics.json.
REAL_PHOTOS := ../shared/real-photos
REAL_PHOTOS_LARGE := ../shared/real-photos-large
PRODUCT_PHOTOS := ../shared/product-photos
pretrained: setup
	$(PY) train.py --output-dir model/pretrained --overwrite
	rm -f model/pretrained/checkpoint.pt
	if [ -f $(REAL_PHOTOS_LARGE)/labels.json ]; then \
	  $(PY) -m model.publishing.recalibrate model/pretrained --photos $(REAL_PHOTOS_LARGE); fi
	$(PY) -m model.publishing.export model/pretrained
	if [ -f $(REAL_PHOTOS)/labels.json ]; then \
	  $(PY) benchmarks/real_photos.py $(REAL_PHOTOS) --record model/pretrained; fi
	if [ -f $(PRODUCT_PHOTOS)/labels.csv ]; then \
	  $(PY) benchmarks/product_photos.py $(PRODUCT_PHOTOS) --record model/pretrained; fi
	$(PY) benchmarks/shop_photos.py --record model/pretrained
	cp model/pretrained/reliability_*.png images/
	$(PY) -m model.publishing.results

# After upgrading a package in .venv (pip install -U NAME), pin what is installed now, then
# regenerate requirements.txt from it; `make test` checks that the three files agree.
constraints:
	{ sed -n '1,/^# Regenerate/p' constraints.txt; $(PY) -m pip freeze --all --exclude-editable | grep -v '^pip=='; } > constraints.new
	mv constraints.new constraints.txt
requirements: setup
	$(PY) -m model.publishing.space requirements > requirements.txt

# Regenerate examples/ from the test set.
examples: setup
	$(PY) -m model.publishing.examples --out examples

clean:
	rm -rf $(VENV) node_modules runs .pytest_cache
