# Thin wrapper over CMake/CTest; the README's two commands live here.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test demo clean asan bench-ops bench-infer bench-detect format fuzz-pth fuzz-onnx \
	gpu-check bench-gpu

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
# allocator_may_return_null: a huge size read from a garbled file must reach
# our SSD_E_NOMEM path, as in a normal build, instead of aborting in ASan.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
asan:
	@$(MAKE) --no-print-directory build BUILD=build-asan CMAKE_FLAGS="-DSSD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
	@cd build-asan && $(ASAN_ENV) ctest --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)

# libFuzzer on the .pth reader for FUZZ_SECONDS; new inputs go to build-fuzz/corpus_pth,
# crashes to build-fuzz/ (keep small reproducers in tests/fuzz/corpus_pth after fixing).
FUZZ_SECONDS ?= 60
fuzz-pth:
	@[ -f build-fuzz/CMakeCache.txt ] || CC=clang CXX=clang++ cmake -S . -B build-fuzz \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSD_FUZZ=ON -DSSD_CUDA=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_pth -- --no-print-directory
	@mkdir -p build-fuzz/corpus_pth
	@cd build-fuzz && ./fuzz_pth -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
		-max_len=8192 -print_final_stats=1 corpus_pth ../tests/fuzz/corpus_pth

bench-ops: build
	@$(BUILD)/bench_ops

# mb1-ssd inference: our ONNX runtime vs ONNX Runtime (run `make test` first: it installs
# onnxruntime-node into $(BUILD)/npm).
bench-detect: build
	@./bench/bench_detect.sh $(BUILD)

bench-infer: build
	@$(BUILD)/bench_infer --npm $(BUILD)/npm

# libFuzzer on the ONNX loader and runtime, as fuzz-pth (seeds: small graphs from gen_onnx.py).
fuzz-onnx:
	@[ -f build-fuzz/CMakeCache.txt ] || CC=clang CXX=clang++ cmake -S . -B build-fuzz \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSD_FUZZ=ON -DSSD_CUDA=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_onnx -- --no-print-directory
	@mkdir -p build-fuzz/corpus_onnx
	@cd build-fuzz && ASAN_OPTIONS=allocator_may_return_null=1 ./fuzz_onnx \
		-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
		corpus_onnx ../tests/fuzz/corpus_onnx

# On a machine with an NVIDIA GPU: build (an existing $(BUILD) is reused without
# reconfiguring), run the CUDA tests and bench/gpu, print a summary (< 5 min).
gpu-check:
	@./scripts/gpu_check.sh $(BUILD)

bench-gpu: build
	@./bench/gpu/run.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
