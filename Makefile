# The two set-up commands of the README: `make run` and `make test`.
.PHONY: run test bench
run:
	./scripts/run
test:
	./scripts/test
bench:
	./scripts/bench
