# The two commands of the README: `make demo` and `make test`. Both install what they need first.
.PHONY: install demo test test-slow bench

install:
	bash scripts/install.sh

demo: install
	.venv/bin/driftalign demo --out demo_out

test: install
	.venv/bin/python -m pytest -q

test-slow: install
	.venv/bin/python -m pytest -q -m slow
