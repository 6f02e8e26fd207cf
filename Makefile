# The two commands of the README: `make demo` and `make test`. Both install what they need first.
.PHONY: install demo test test-slow bench lint

install:
	bash scripts/install.sh

demo: install
	.venv/bin/driftalign demo --out demo_out

test: install
	.venv/bin/python -m pytest -q

test-slow: install
	.venv/bin/python -m pytest -q -m slow

# ruff comes with the dev extras (make install); the rules are pyproject's [tool.ruff.lint]. Not part of `make test`.
lint:
	@.venv/bin/python -m ruff --version >/dev/null 2>&1 || { echo "ruff is not installed: make install (dev extras)"; exit 1; }
	.venv/bin/python -m ruff check src tests benchmarks scripts
