# Developer entry points; CMake does the building (presets in CMakePresets.json).
#   make run    install what is missing, build (release) and start the all-in-one system
#   make test   install what is missing, build (dev: ASan + UBSan) and run every test through ctest
#   make format / make lint   clang-format the tree / check formatting and clang-tidy changed files
#   make bench  run the benchmarks in bench/ (not part of the tests)
#   make fuzz   build the fuzz targets with clang and run each for a bounded time

JOBS ?= $(shell nproc)
OLYMPUS_ARGS ?= serve all

.PHONY: run test build release dev bootstrap format lint bench fuzz clean

run: bootstrap release
	./build/release/src/cli/olympus $(OLYMPUS_ARGS)

test: bootstrap dev
	ctest --preset dev -j $(JOBS)

bootstrap:
	@scripts/bootstrap

build: dev

dev:
	cmake --preset dev
	cmake --build --preset dev -j $(JOBS)

release:
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

lint: dev
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror
	@files=$$(git diff --name-only --diff-filter=d HEAD -- '*.cpp'; git ls-files --others --exclude-standard -- '*.cpp'); \
	  if [ -n "$$files" ]; then clang-tidy -p build/dev --quiet $$files; else echo "lint: no changed .cpp files"; fi

bench: bootstrap release
	@scripts/bootstrap --dev
	bench/http.sh

fuzz:
	@scripts/bootstrap --dev
	scripts/fuzz

clean:
	rm -rf build
