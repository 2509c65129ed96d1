# tests/mutation/ - mutation testing of the decision code, on demand
# (never part of make check): tests/mutation/mutate.py makes small
# bug-like changes to lib/rights.c, lib/policy.c, ... one at a time in a
# copy of the tree under build-mutant/, and runs the tests against each.
#
#   make mutants                     all files, unit and integration tests
#   make mutants MUTATE_FLAGS=--fast unit tests only (about half an hour)
#   make mutants MUTATE_FLAGS="--files lib/policy.c --max 50"
#   make check-mutate-tool           the tool's own self-test (seconds)
#
# The score line and the survivors are printed; build-mutant/report.json
# keeps every mutant's outcome. See the header of mutate.py.

MUTATE_FLAGS ?=

.PHONY: mutants check-mutate-tool clean-mutants

mutants:
	PYTHON=$(PYTHON) $(PYTHON) tests/mutation/mutate.py $(MUTATE_FLAGS)

check-mutate-tool:
	$(PYTHON) -m pytest -q tests/mutation/test_mutate.py

clean-mutants:
	rm -rf build-mutant
