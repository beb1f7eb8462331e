# trustsvc: two commands do all set-up on a fresh machine.
#   make run   create .venv, install, bootstrap the demo region when none is configured, serve
#   make test  create .venv, install with the test extras, run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
export TRUSTSVC_HOME ?= $(CURDIR)/var

.PHONY: run test venv install install-test system-deps system-deps-test bench fuzz clean

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
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,tongsuo,pkcs11]'
	touch $@ $(VENV)/.installed

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
	$(BIN)/trustsvc demo --host $(HOST) --port $(PORT)

test: install-test system-deps-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks (not part of make test): figures against same-run references, into BENCHMARKS.md.
# The HTTP section loads the service with wrk (Debian package wrk) from a separate process.
bench: install-test system-deps-test
	@command -v wrk >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  echo "installing Debian packages: wrk" && $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || \
	  echo "note: no wrk; the HTTP section will say it was not measured"
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Longer fuzzing (not part of make test, which runs ~100-400 cases per target): FUZZ_EXAMPLES
# cases per Hypothesis target, with Hypothesis' statistics (cases run per target) and what each
# API endpoint answered.
FUZZ_EXAMPLES ?= 2000
FUZZ_TESTS ?= tests/fuzz tests/seals/test_seals_fuzz.py tests/ca/test_ca_fuzz.py tests/ca/test_ca_cms.py \
              tests/ca/test_ca_tsa.py tests/ca/test_ca_ocsp.py tests/codes/test_codes_format.py
fuzz: install-test
	TRUSTSVC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TRUSTSVC_FUZZ_REPORT=1 $(BIN)/python -m pytest -q -s -p no:cacheprovider \
	  --hypothesis-show-statistics $(FUZZ_TESTS) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
