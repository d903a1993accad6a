# OverlaySim: the two commands a new user needs are `make run` and `make test`.
DOTNET ?= dotnet
CONFIG ?= Release
# The CLI that `make run` and `make check` use: published into build/cli/ with its start-up layers compiled ahead of
# time (ReadyToRun) for this platform, so that a short run waits less for the JIT (src/OverlaySim.Cli/OverlaySim.Cli.csproj).
CLI_DIR := build/cli
CLI := $(CLI_DIR)/overlaysim.dll
SCENARIO ?= scenarios/quickstart.yaml

.PHONY: build run test check bench clean

build:
	$(DOTNET) build OverlaySim.sln -c $(CONFIG) --nologo -v quiet
	$(DOTNET) publish src/OverlaySim.Cli -c $(CONFIG) --nologo -v quiet -p:AheadOfTime=true -o $(CLI_DIR)

# Runs the default scenario and (re)writes results/quickstart/.
run: build
	$(DOTNET) $(CLI) run $(SCENARIO) --force

# The whole test suite (unit, property, determinism, CLI). Prints a closing "N passed, N failed" line.
test:
	@bash tools/test.sh

# The routing properties of scenarios/checks/ (each file's expect: list), with a JUnit report for CI; exit code 4
# when an expectation fails.
check: build
	$(DOTNET) $(CLI) check scenarios/checks/*.yaml --junit results/checks-junit.xml

# BenchmarkDotNet: event queue and static Chord and Kademlia lookups. BENCH_FILTER narrows it, e.g. BENCH_FILTER='*Queue*';
# BENCH_ARGS passes more options, e.g. BENCH_ARGS=--cpu-clock on a shared machine (see benchmarks/README.md).
bench:
	$(DOTNET) run -c Release --project benchmarks/OverlaySim.Benchmarks -- --filter '$(or $(BENCH_FILTER),*)' $(BENCH_ARGS)

clean:
	$(DOTNET) clean OverlaySim.sln -c $(CONFIG) --nologo -v quiet
	rm -rf results/*/ BenchmarkDotNet.Artifacts $(CLI_DIR)
