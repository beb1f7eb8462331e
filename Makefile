# trustsvc: two commands do all set-up on a fresh machine.
#   make run   create .venv, install, bootstrap the demo region when none is configured, serve
#   make test  create .venv, install with the test extras, run the whole suite
# Every install comes from a hashed lock (requirements.lock for the service,
# requirements-dev.lock for tests, lint and bench), so a fresh clone installs what passed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# HOST / PORT: `make run PORT=9000`; unset, the demo listens where config.toml or
# TRUSTSVC_SERVER_HOST / TRUSTSVC_SERVER_PORT say (127.0.0.1:8000 by default).
HOST   ?=
PORT   ?=
export TRUSTSVC_HOME ?= $(CURDIR)/var

LOCK     := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_VERSION ?= 0.13.9
LOCK_EXTRAS := --extra test --extra tongsuo --extra pkcs11 --extra lint
LOCK_FLAGS := --group pyproject.toml:build --universal --python-version 3.11 --generate-hashes --no-header --quiet

.PHONY: run test lint lock venv install install-test system-deps system-deps-test bench bench-scale fuzz fuzz-api clean

# Debian packages the service or its tests use: a CJK font for seal pictures and licence files.
SYSTEM_PACKAGES ?= fonts-wqy-zenhei
CJK_FONT ?= /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

system-deps:
	@if [ ! -e $(CJK_FONT) ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages: $(SYSTEM_PACKAGES)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "note: no CJK font at $(CJK_FONT); install one (e.g. fonts-wqy-zenhei) for seal pictures"; \
	  fi; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The lock first (with hashes, pip and setuptools included), then the project itself on top of
# it without touching its dependencies.
$(VENV)/.installed: $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: $(DEV_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(DEV_LOCK)
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.installed

# Refresh both locks to the newest releases pyproject.toml allows (then run make test).
# LOCK_ARGS= keeps today's pins and only adds what is new in pyproject.toml.
LOCK_ARGS ?= --upgrade
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_EXTRAS) $(LOCK_FLAGS) $(LOCK_ARGS) -o $(DEV_LOCK)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -c $(DEV_LOCK) -o $(LOCK)

# Lint and types: ruff (rules and formatting, configured in pyproject.toml) and mypy.
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

venv: $(BIN)/python
install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# ... and what the tests drive for real, as command:Debian-package pairs: the openssl command,
# headless Chromium and its WebDriver (the console's browser test clicks through Selenium), and
# poppler's pdfsig/pdftotext/pdffonts/pdftoppm for the licence PDFs, and SoftHSM2 (a real PKCS#11
# token for the pkcs11 key store's tests).
TEST_SYSTEM_PACKAGES ?= openssl:openssl chromium:chromium chromedriver:chromium-driver pdfsig:poppler-utils softhsm2-util:softhsm2

system-deps-test: system-deps
	@missing=""; for t in $(TEST_SYSTEM_PACKAGES); do command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "note: missing$$missing; the tests that need them will say so"; \
	  fi; \
	fi

run: install system-deps
	$(BIN)/trustsvc demo $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

test: install-test system-deps-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks (not part of make test): figures against same-run references, into BENCHMARKS.md.
# The HTTP section loads the service with wrk (Debian package wrk) from a separate process.
bench: install-test system-deps-test
	@command -v wrk >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  echo "installing Debian packages: wrk" && $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || \
	  echo "note: no wrk; the HTTP section will say it was not measured"
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Scale mode (not part of make test or make bench): a scratch PostgreSQL database (SCALE_DB) with
# SCALE_ROWS licences across SCALE_ISSUERS departments (SCALE_IMPORT of them through the import
# path, the rest by COPY), measured at both sizes into BENCHMARKS.md's "Scale" section; see
# bench/scale.py and docs/scale.md. The database is dropped at the end.
SCALE_ROWS ?= 10000000
SCALE_ISSUERS ?= 100
bench-scale: install-test
	SCALE_ROWS=$(SCALE_ROWS) SCALE_ISSUERS=$(SCALE_ISSUERS) $(BIN)/python -m bench.scale

# Longer fuzzing (not part of make test, which runs ~100-400 cases per target): FUZZ_EXAMPLES
# cases per Hypothesis target, with Hypothesis' statistics (cases run per target) and what each
# API endpoint answered.
FUZZ_EXAMPLES ?= 2000
FUZZ_TESTS ?= tests/fuzz tests/formats/test_seals_fuzz.py tests/ca/test_ca_fuzz.py tests/ca/test_ca_cms.py \
              tests/ca/test_ca_tsa.py tests/ca/test_ca_ocsp.py tests/codes/test_codes_format.py
fuzz: install-test
	TRUSTSVC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TRUSTSVC_FUZZ_REPORT=1 $(BIN)/python -m pytest -q -s -p no:cacheprovider \
	  --hypothesis-show-statistics $(FUZZ_TESTS) $(PYTEST_ARGS)

# Every API endpoint at FUZZ_EXAMPLES cases (100,000 is the issue-17 long run, about 4 core-hours),
# its routes shared by FUZZ_JOBS processes; each writes fuzz-api-N.log (what every route answered).
FUZZ_JOBS ?= 2
fuzz-api: install-test
	@pids=""; for i in $$(seq 0 $$(($(FUZZ_JOBS) - 1))); do \
	  TRUSTSVC_FUZZ_SHARD=$$i/$(FUZZ_JOBS) TRUSTSVC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TRUSTSVC_FUZZ_REPORT=1 \
	    $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/fuzz/test_fuzz_api.py \
	    -k test_endpoint_answers $(PYTEST_ARGS) > fuzz-api-$$i.log 2>&1 & pids="$$pids $$!"; \
	done; status=0; for p in $$pids; do wait $$p || status=1; done; \
	grep -h " cases, statuses" fuzz-api-*.log; exit $$status

clean:
	rm -rf $(VENV) build *.egg-info
