#!/bin/sh
# run-unit.sh - run each unit test binary; any failure fails the run.
status=0
for t in "$@"; do
	if ! "$t"; then
		echo "FAILED: $t" >&2
		status=1
	fi
done
exit $status
