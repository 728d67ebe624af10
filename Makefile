# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
USERS ?= 200000
SEED ?= 7
# $300M for a 50M-user exchange, scaled to the demo exchange: $6 per user.
DEMO_BUDGET_USD ?= $(shell echo $$(( $(USERS) * 6 )))

.PHONY: demo test lint typecheck bench clean install browser bench-web fuzz i18n lock newest

install: $(STAMP)

# Development and CI: the dev lock (runtime + test tools), every file checked against its
# hash. A production install uses requirements/runtime.lock the same way (docs/dependencies.md).
$(STAMP): pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-lock after changing a dependency in pyproject.toml: pip-tools (in a throwaway venv,
# never the project's) keeps every existing pin, adds what is new, with the hashes of every
# file of each version. The runtime lock is constrained by the dev lock: same versions.
# To move a package: make lock LOCK_ARGS="--upgrade-package duckdb".
LOCK_VENV ?= /tmp/recompense-lock-tools
PIP_TOOLS ?= pip-tools==7.7.0
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet \
	--generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet "$(PIP_TOOLS)"; }
	$(PIP_COMPILE) --extra dev --extra spark -o requirements/dev.lock pyproject.toml
	$(PIP_COMPILE) -c requirements/dev.lock -o requirements/runtime.lock pyproject.toml

# What breaks with the newest duckdb, sqlglot, pyspark and pandas (pins ignored), on the
# tests that exercise them: engine (DuckDB via Ibis/sqlglot), Spark parity, run folders.
# Needs the package registry; not run by CI (.ci/run). docs/dependencies.md has the result.
NEWEST_VENV ?= /tmp/recompense-newest
NEWEST_TESTS ?= tests/engine tests/runs
newest:
	rm -rf $(NEWEST_VENV)
	$(PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade duckdb sqlglot pyspark pandas
	$(NEWEST_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(NEWEST_VENV)/bin/python -m pip list 2>/dev/null | grep -i -E '^(duckdb|sqlglot|pyspark|pandas|ibis-framework) '
	$(NEWEST_VENV)/bin/python -m pip check || true
	$(NEWEST_VENV)/bin/python -m pytest -q -p no:cacheprovider --tb=line -rfE $(NEWEST_TESTS)

# Browser tests launch Debian's Chromium by path (a browser download is impossible here),
# and the JavaScript the tests check us against (axe-core; OpenZeppelin's merkle-tree;
# tweetnacl, @noble/ed25519, canonicalize) is pinned in tests/browser/package-lock.json and
# installed with npm ci; nothing is downloaded while the tests run.
CHROMIUM ?= /usr/bin/chromium
browser:
	test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	test -x $(CHROMIUM)
	command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	test -f tests/browser/node_modules/axe-core/axe.min.js

DEMO_DB := sqlite:///demo/ledger.db
# The demo's sign-in links: one-time codes kept in its ledger, minted with its own secret.
DEMO_LINK := $(BIN)/recompense token --secret-file demo/jwt-secret --db $(DEMO_DB) --link

demo: $(STAMP)
	rm -rf demo
	$(BIN)/recompense synth --users $(USERS) --seed $(SEED) --out demo/data
	# The demo's clock: the programme as announced now, so distributing minutes later keeps
	# the 24 h / 96 h promises (the real one was announced 2025-10-14 and would show them missed).
	sed 's/^announced_at = .*/announced_at = '$$(date -u +%Y-%m-%dT%H:%M:%SZ)'/' programs/together-2025-10.toml > demo/together-demo.toml
	sed 's/^announced_at = .*/announced_at = '$$(date -u +%Y-%m-%dT%H:%M:%SZ)'/' programs/depeg-2025-10.toml > demo/depeg-demo.toml
	$(BIN)/recompense db upgrade --db $(DEMO_DB)
	# The programme before it: the de-peg compensation, each loss in full, credited directly.
	$(BIN)/recompense run --program demo/depeg-demo.toml --data demo/data --out demo/depeg --as ops:demo-runner
	$(BIN)/recompense approve --run demo/depeg --db $(DEMO_DB) --as ops:demo-approver-1 --yes
	$(BIN)/recompense approve --run demo/depeg --db $(DEMO_DB) --as ops:demo-approver-2 --yes
	$(BIN)/recompense distribute --run demo/depeg --db $(DEMO_DB) --as ops:demo-runner
	# The Together Initiative on the same ledger: the de-peg payees are excluded from its books.
	$(BIN)/recompense run --program demo/together-demo.toml --data demo/data --out demo/run --budget-usd $(DEMO_BUDGET_USD) --as ops:demo-runner --db $(DEMO_DB)
	$(BIN)/recompense approve --run demo/run --db $(DEMO_DB) --as ops:demo-approver-1 --yes
	$(BIN)/recompense approve --run demo/run --db $(DEMO_DB) --as ops:demo-approver-2 --yes
	$(BIN)/recompense distribute --run demo/run --db $(DEMO_DB) --as ops:demo-runner
	$(BIN)/recompense reconcile --run demo/run --db $(DEMO_DB)
	$(BIN)/recompense status --program together-2025-10 --db $(DEMO_DB)
	$(BIN)/recompense status --program depeg-2025-10 --db $(DEMO_DB)
	$(BIN)/recompense keys new --out demo/keys
	$(BIN)/recompense commit --run demo/run --key demo/keys/signing-key.json
	$(BIN)/recompense reconcile --run demo/depeg --db $(DEMO_DB)
	$(BIN)/recompense commit --run demo/depeg --key demo/keys/signing-key.json
	$(BIN)/recompense dev-secret --out demo/jwt-secret
	@echo "Web service:       RECOMPENSE_JWT_SECRET_FILE=demo/jwt-secret RECOMPENSE_PUBLICATION_KEY_FILE=demo/keys/public-key.json $(BIN)/recompense serve --db $(DEMO_DB)"
	@echo "then sign in with a link (it works once, for 5 minutes) that one of these prints:"
	@echo "  an eligible user: $(DEMO_LINK) --role user --user-id $$($(BIN)/python -c "import pyarrow.parquet as pq; print(pq.read_table('demo/run/allocations.parquet', columns=['user_id'])['user_id'][0])")"
	@echo "  operations:       $(DEMO_LINK) --role ops"
	@echo "  an auditor:       $(DEMO_LINK) --role auditor   (the audit trail: /ops/audit)"
	@echo "Report:            demo/run/report.html"
	@echo "Explain one user:  $(BIN)/recompense explain --run demo/run USER_ID"
	@echo "De-peg payouts:    $(BIN)/recompense explain --run demo/depeg $$($(BIN)/python -c "import pyarrow.parquet as pq; print(pq.read_table('demo/depeg/allocations.parquet', columns=['user_id'])['user_id'][0])")"

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

# Translations (docs/i18n.md): collect every word to translate from the templates and
# web/messages.py into messages.pot, bring each language's .po up to date (new entries
# empty, changed ones fuzzy for review), and copy the English source into en's .po.
# Then translate the empty and fuzzy entries; tests/web/test_i18n.py fails until done.
LOCALE := src/recompense/web/locale
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --add-location=file --sort-by-file --width=100 \
		--add-comments=TRANSLATORS: --project=recompense --copyright-holder="recompense contributors" \
		--version=$$($(BIN)/python -c "import recompense; print(recompense.__version__)") \
		--output-file=$(LOCALE)/messages.pot src
	$(BIN)/pybabel update --input-file=$(LOCALE)/messages.pot --output-dir=$(LOCALE) --width=100 \
		--ignore-obsolete
	$(BIN)/python -c "from recompense.web.i18n import fill_source; print(fill_source(), 'English entries filled')"

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
