# make test: install the test oracles, vet, run every test, then fuzz each
# target in FUZZ_TARGETS for FUZZTIME (a count, not a duration: a timed run
# can end in a spurious "context deadline exceeded"). .ci/run calls this target.

GO ?= go
# Space-separated package:FuzzName pairs, for example ./onnxio:FuzzLoad.
FUZZ_TARGETS ?= ./onnxio:FuzzLoadBytes ./onnxio:FuzzToTensor ./graph:FuzzFromProto
FUZZTIME ?= 100000x
# Go minimizes every new interesting input for up to 60s by default; with
# whole models as seeds that stalls a 10s run at 0 execs/sec. Bound it.
FUZZMINIMIZETIME ?= 200x
TEST_TIMEOUT ?= 60m

.PHONY: test oracles vet gotest fuzz testmodels

test: oracles vet gotest fuzz

oracles:
	bash scripts/setup-oracles.sh

vet:
	$(GO) vet ./...

gotest:
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
	done

# Regenerates the committed models and data under testmodels/ (slow: trains
# the Fashion-MNIST classifiers; see testmodels/README.md).
testmodels: oracles
	bash testmodels/make_all.sh
