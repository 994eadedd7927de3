# The front door. `make up` runs the system; `make test` runs every test.
.PHONY: install lock images stack-test panels up test test-unit test-integration services browser openapi lint typecheck migrate bench chaos clean dist

VENV := .venv/bin

install:
	@bash scripts/install.sh

# Re-resolve requirements/*.txt from the pyproject.toml files (UPGRADE=1 takes the newest releases).
lock: install
	@bash scripts/lock.sh

up: install
	@$(VENV)/imagestudio up

migrate: install
	@$(VENV)/imagestudio migrate

services: install
	@bash scripts/services.sh
	@bash scripts/install-ops-tools.sh

# One pytest worker per core (pytest-xdist), a test file's tests on one worker: most of the suite
# waits on real services and processes, so two cores halve its time (23 -> 13 min here). The files
# that take minutes go first (tests/conftest.py's LONG_FILES), not xdist's order by test count.
PYTEST_PARALLEL := -n auto --dist loadfile --no-loadscope-reorder --durations=40

# The stack test (tests/stack) runs the images: `make test` builds them in the background while the
# rest of the suite runs, and the stack tests wait for that build (scripts/test.sh; a failed build
# fails them). Cached: seconds when nothing changed.
test: install services browser
	@bash scripts/test.sh $(PYTEST_PARALLEL)

# Every image (gateway, one per studio worker): docker where an engine answers, else podman (docs/operating.md).
images:
	@bash scripts/images.sh

# The distributed system from those images as containers, configured as docker-compose.yml configures it.
stack-test: install services images
	@$(VENV)/pytest -q -p no:cacheprovider tests/stack

# Redraw docs/operating/*.png: every dashboard panel's queries on the stack test's live data.
panels: install services images
	@IMAGESTUDIO_STACK_PANELS_DIR=docs/operating $(VENV)/pytest -q -p no:cacheprovider tests/stack/test_stack.py

# Regenerate the committed OpenAPI document (a test fails while it is stale).
openapi: install
	@$(VENV)/imagestudio openapi --write docs/openapi.json

browser:
	@bash scripts/install-browser.sh

test-unit: install
	@$(VENV)/pytest -q -p no:cacheprovider tests/unit

test-integration: install services browser
	@$(VENV)/pytest -q -p no:cacheprovider $(PYTEST_PARALLEL) -m integration tests/integration tests/e2e

# Import contracts ([tool.importlinter] in pyproject.toml) are also a unit test, so `make test` checks them.
lint: install
	@$(VENV)/ruff format --check . && $(VENV)/ruff check . && $(VENV)/lint-imports

typecheck: install
	@$(VENV)/mypy

bench: install services
	@bash scripts/install-bench-tools.sh
	@$(VENV)/python bench/run_all.py

# The full chaos run (docs/chaos.md): >= 1,000 jobs under worker kills and service restarts, then
# the memory phase (workers caged at their pods' memory limits, one tenant's large and lying inputs), on
# private PostgreSQL/RabbitMQ/S3 servers (never the machine's own); bounded in jobs and time.
chaos: install
	@cd tests && timeout 2700 ../$(VENV)/python -m chaos

# The clients' packages: the Python SDK's wheel and sdist, and the TypeScript client's npm tarball
# (`npm pack` builds it first), into $(DIST); their versions are the API's.
DIST ?= dist
dist: install
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@$(VENV)/python -m build --sdist --wheel --outdir $(abspath $(DIST)) clients/python >/dev/null
	@# npm ci and the build run on a copy, so they never touch the checkout's node_modules or dist/.
	@work=$$(mktemp -d) && mkdir -p $$work/clients $$work/docs && cp docs/openapi.json $$work/docs/ \
	  && tar -C clients -cf - --exclude=node_modules --exclude=dist typescript | tar -C $$work/clients -xf - \
	  && (cd $$work/clients/typescript && npm ci --no-audit --no-fund --silent \
	      && npm pack --silent --pack-destination $(abspath $(DIST)) >/dev/null); \
	  status=$$?; rm -rf $$work; exit $$status
	@ls -1 $(DIST)

clean:
	rm -rf .imagestudio
