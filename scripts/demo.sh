#!/usr/bin/env bash
# `make demo`: the main job end to end on the sample data shipped in the repo.
# It grows with the project; today it verifies the build.
set -euo pipefail
build=${1:-build}
"$build/ssd" info
