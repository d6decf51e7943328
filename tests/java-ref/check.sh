#!/usr/bin/env bash
# Runs every case of samples/cases.txt through run.sh (one JVM) and compares the output
# with samples/expected/<input stem>/<topology>.out.jsonl.
#   check.sh           compare; exit 1 on any difference
#   check.sh --update  (re)write the expected files
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
samples="$here/samples"
update=0
[[ "${1:-}" == "--update" ]] && update=1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

args=() expected=() actual=()
while read -r topology input _; do
    [[ -z "$topology" || "$topology" == \#* ]] && continue
    stem="$(basename "$input" .in.jsonl)"
    out="$tmp/$stem.$topology.out.jsonl"
    args+=("$topology" "$samples/$input" "$out")
    expected+=("$samples/expected/$stem/$topology.out.jsonl")
    actual+=("$out")
done <"$samples/cases.txt"

"$here/run.sh" "${args[@]}"

passed=0 failed=0
for i in "${!actual[@]}"; do
    if ((update)); then
        mkdir -p "$(dirname "${expected[$i]}")"
        cp "${actual[$i]}" "${expected[$i]}"
        passed=$((passed + 1))
    elif diff -u "${expected[$i]}" "${actual[$i]}" >"$tmp/diff" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "MISMATCH ${expected[$i]#"$here/"}" >&2
        cat "$tmp/diff" >&2
    fi
done
echo "$passed passed, $failed failed"
((failed == 0))
