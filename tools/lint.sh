#!/usr/bin/env bash
# clang-format (must be clean) and clang-tidy (the enforced set in
# .clang-tidy) over every C++ source in the tree. Needs a configured build
# directory for compile_commands.json (default: build/default).
#   tools/lint.sh [--format-only] [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
format_only=0
if [[ ${1:-} == --format-only ]]; then format_only=1; shift; fi
build=${1:-build/default}

mapfile -t sources < <(git ls-files '*.cc' '*.h')
echo "lint: clang-format on ${#sources[@]} files"
clang-format --dry-run -Werror "${sources[@]}"
((format_only)) && exit 0

mapfile -t units < <(git ls-files '*.cc' | grep -v '^tests/fuzz/corpus/')
echo "lint: clang-tidy on ${#units[@]} translation units"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
printf '%s\n' "${units[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet >"$log" 2>&1 || true
grep -v -E '^[0-9]+ warnings? generated|^Suppressed|^Use -header-filter' "$log" || true
if grep -q -E 'error:|warning:' "$log"; then
  echo "lint: clang-tidy found problems" >&2
  exit 1
fi
echo "lint: clean"
