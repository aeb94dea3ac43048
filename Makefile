# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test unit lint fmt synth layer bench bench-quick chaos simulate clean chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

## the whole system on the local sandbox, with demo data (Ctrl-C to stop)
run: $(STAMP)
	$(BIN)/bmsync up $(ARGS)

## lint, types, then every test (unit, integration, end-to-end, infra, browser, short simulation)
test: $(STAMP) lint chromium
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

## the browser tests drive Debian's Chromium (never a downloaded browser): install it when missing
chromium:
	@test -x /usr/bin/chromium || { \
		command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] || \
		{ echo "the browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2; exit 1; }; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

unit: $(STAMP)
	$(BIN)/pytest -n 2 tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layer/bmsync bmsync_sandbox functions infra bench

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## the Lambda layer for the Lambda runtime (Python 3.12, x86_64), built without Docker.
## boto3 is not copied in: the Lambda runtime provides it, and the layer must stay under 20 MB.
## The versions are the ones the tests ran with (constraints from .venv); rebuilt only when
## pyproject.toml or layer/ changes, so `make synth` needs no package index once it is built.
LAYER_STAMP := build/.layer-built
layer: $(LAYER_STAMP)

$(LAYER_STAMP): $(STAMP) pyproject.toml $(shell find layer/bmsync -name '*.py' 2>/dev/null)
	rm -rf build/layer && mkdir -p build/layer/python
	$(BIN)/pip freeze --exclude-editable > build/layer-constraints.txt
	$(BIN)/pip install --quiet --platform manylinux2014_x86_64 --only-binary=:all: \
		--python-version 3.12 --implementation cp --target build/layer/python \
		-c build/layer-constraints.txt aws-lambda-powertools requests pydantic
	# Powertools' Tracer imports the X-Ray SDK when tracing is on; without its botocore dependency,
	# which the runtime provides (a copy would shadow it).
	$(BIN)/pip install --quiet --platform manylinux2014_x86_64 --only-binary=:all: \
		--python-version 3.12 --implementation cp --target build/layer/python --no-deps \
		-c build/layer-constraints.txt aws-xray-sdk wrapt
	cp -r layer/bmsync build/layer/python/bmsync
	find build/layer -name '__pycache__' -prune -exec rm -rf {} +
	@touch $@

## synthesize the CDK app offline, with cdk-nag as validation and cfn-lint on the templates
synth: $(LAYER_STAMP)
	$(BIN)/python -m infra.synth

## the deterministic simulation (docs/simulator.md): e.g. make simulate ARGS="--days 1 --seed 3 --faults heavy"
simulate: $(STAMP)
	PYTHONHASHSEED=0 $(BIN)/bmsync simulate $(ARGS)

## 7 simulated days of heavy faults over several seeds, one process per seed, as many at once as
## there are cores (long: see docs/simulator.md for the cost). Reports: .bmsync/chaos-<seed>.{txt,json}
CHAOS_DAYS ?= 7
CHAOS_SEEDS ?= 1 2 3
chaos: $(STAMP)
	@mkdir -p .bmsync
	@$(MAKE) --no-print-directory -j$$(nproc) -k $(addprefix .chaos-seed-,$(CHAOS_SEEDS)); status=$$?; \
		for seed in $(CHAOS_SEEDS); do cat .bmsync/chaos-$$seed.txt; done; exit $$status

.chaos-seed-%:
	PYTHONHASHSEED=0 $(BIN)/bmsync simulate --days $(CHAOS_DAYS) --faults heavy --seed $* \
		--json .bmsync/chaos-$*.json > .bmsync/chaos-$*.txt

## bmsync against periodic-15m on the same traffic, plus throughput, import times, layer size
bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf build cdk.out .bmsync .pytest_cache .mypy_cache .ruff_cache
