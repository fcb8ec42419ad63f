# Thin wrapper over CMake/CTest; the README's two commands live here.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test demo clean asan bench-ops format

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

test: deps build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

demo: deps build
	@./scripts/demo.sh $(BUILD)

# Same tests under AddressSanitizer/UBSan (leaks included), in a separate tree.
asan:
	@$(MAKE) --no-print-directory build BUILD=build-asan CMAKE_FLAGS="-DSSD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
	@cd build-asan && ctest --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)

bench-ops: build
	@$(BUILD)/bench_ops

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan
