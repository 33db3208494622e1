# portus: `make run` starts the service, `make test` runs the whole suite.
# Both install what is missing first (Debian packages and a .venv).
PYTHON ?= python3
VENV   ?= .venv
APT_PACKAGES = haproxy keepalived iproute2 procps nftables conntrack iputils-ping curl
# For `make test` only: Go and gophercloud's sources (tests/clients/test_gophercloud.py).
TEST_APT_PACKAGES = golang-go golang-github-gophercloud-gophercloud-dev
STAMP  = $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test deps system-deps test-system-deps venv lint clean

run: deps
	$(VENV)/bin/portus up

test: deps test-system-deps
	$(VENV)/bin/python -m mypy
	$(VENV)/bin/python -m pytest -n $${PYTEST_WORKERS:-4} $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest: no tests ran"; exit 0; fi; exit $$rc

deps: system-deps venv

# Installs those of the Debian packages $(1) that are missing.
apt_install = missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

system-deps:
	@$(call apt_install,$(APT_PACKAGES))

test-system-deps:
	@$(call apt_install,$(TEST_APT_PACKAGES))

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache
