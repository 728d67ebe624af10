# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
USERS ?= 200000
SEED ?= 7
# $300M for a 50M-user exchange, scaled to the demo exchange: $6 per user.
DEMO_BUDGET_USD ?= $(shell echo $$(( $(USERS) * 6 )))

.PHONY: demo test lint typecheck bench clean install browser bench-web fuzz

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Browser tests launch Debian's Chromium by path (a browser download is impossible here).
CHROMIUM ?= /usr/bin/chromium
browser:
	test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	test -x $(CHROMIUM)

DEMO_DB := sqlite:///demo/ledger.db

demo: $(STAMP)
	rm -rf demo
	$(BIN)/recompense synth --users $(USERS) --seed $(SEED) --out demo/data
	# The demo's clock: the programme as announced now, so distributing minutes later keeps
	# the 24 h / 96 h promises (the real one was announced 2025-10-14 and would show them missed).
	sed 's/^announced_at = .*/announced_at = '$$(date -u +%Y-%m-%dT%H:%M:%SZ)'/' programs/together-2025-10.toml > demo/together-demo.toml
	$(BIN)/recompense run --program demo/together-demo.toml --data demo/data --out demo/run --budget-usd $(DEMO_BUDGET_USD) --as ops:demo-runner
	$(BIN)/recompense db upgrade --db $(DEMO_DB)
	$(BIN)/recompense approve --run demo/run --db $(DEMO_DB) --as ops:demo-approver-1 --yes
	$(BIN)/recompense approve --run demo/run --db $(DEMO_DB) --as ops:demo-approver-2 --yes
	$(BIN)/recompense distribute --run demo/run --db $(DEMO_DB) --as ops:demo-runner
	$(BIN)/recompense reconcile --run demo/run --db $(DEMO_DB)
	$(BIN)/recompense status --program together-2025-10 --db $(DEMO_DB)
	$(BIN)/recompense keys new --out demo/keys
	$(BIN)/recompense commit --run demo/run --key demo/keys/signing-key.json
	@echo "Web service:       RECOMPENSE_PUBLICATION_KEY_FILE=demo/keys/public-key.json $(BIN)/recompense serve --db $(DEMO_DB)   then sign in with"
	@echo "  an eligible user: $$($(BIN)/recompense token --role user --link --user-id $$($(BIN)/python -c "import pyarrow.parquet as pq; print(pq.read_table('demo/run/allocations.parquet', columns=['user_id'])['user_id'][0])"))"
	@echo "  operations:       $$($(BIN)/recompense token --role ops --link)"
	@echo "  an auditor:       $$($(BIN)/recompense token --role auditor --link)   (the audit trail: /ops/audit)"
	@echo "Report:            demo/run/report.html"
	@echo "Explain one user:  $(BIN)/recompense explain --run demo/run USER_ID"

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# The long profiles of the differential fuzz (engine vs an exact reference; make test runs
# 25 examples) and of the CLI fuzz (ten times make test's examples).
FUZZ_EXAMPLES ?= 3000
fuzz: $(STAMP)
	$(BIN)/python -m pytest -q -s tests/engine/test_differential.py -k "not spark" --fuzz-examples $(FUZZ_EXAMPLES)
	RECOMPENSE_FUZZ_SCALE=10 $(BIN)/python -m pytest -q tests/cli/test_cli_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py --users 1000000

# Load test of the web service (wrk on loopback, PostgreSQL behind); installs wrk if missing.
BENCH_WEB_USERS ?= 1000000
bench-web: $(STAMP)
	command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python benchmarks/bench_web.py --users $(BENCH_WEB_USERS)

clean:
	rm -rf $(VENV) demo .pytest_cache
