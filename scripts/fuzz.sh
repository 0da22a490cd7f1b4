#!/usr/bin/env bash
# fuzz.sh - build and run the libFuzzer targets of fuzz/ (docs/security.md,
# "Hardening checks").
#
#   scripts/fuzz.sh                    CI: each target 20 s (DTX_FUZZ_SECONDS)
#   scripts/fuzz.sh --long [SECONDS]   by hand: each target SECONDS (default
#                                      3600), the corpus kept between runs
#   scripts/fuzz.sh [--long [S]] proto log config   only those targets
#
# Built here with clang directly, not by Automake: every object a target
# links must be compiled by clang with -fsanitize=fuzzer-no-link (coverage)
# and the sanitizers, while the Automake build uses the system's cc; one
# Automake tree cannot hold two compilers for the same sources.  The
# sources each target links are listed below.
#
# Corpus: tmp/fuzz/corpus/TARGET (new inputs found are kept there), seeded
# every run from valid encodings (fuzz/fuzz_seeds.c and etc/*.cfg).  A
# crash, leak or sanitizer finding fails the script; the input that caused
# it is in tmp/fuzz/crashes/, replay it with tmp/fuzz/fuzz_TARGET FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${DTX_FUZZ_SECONDS:-20}
if [ "${1:-}" = --long ]; then
    shift
    seconds=3600
    if [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
fi
targets=${*:-proto log config}
command -v clang >/dev/null || { echo "fuzz: clang missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }

out=tmp/fuzz
mkdir -p "$out/crashes"
# Seeds per run, so that runs of different targets can go side by side
seeds=$(mktemp -d "$out/seeds.XXXXXX")
trap 'rm -rf "$seeds"' EXIT
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Wno-unused-parameter -Werror -Ilib -Icoordinator -Iparticipant -I."
libs="$(pkg-config --libs libczmq libzmq)"
declare -A sources=(
    [proto]="lib/dtx_proto.c"
    [log]="coordinator/dtx_log.c lib/dtx_util.c"
    [config]="lib/dtx_util.c coordinator/coord_config.c participant/dtx_participant_config.c"
)
for t in $targets; do
    [ -n "${sources[$t]:-}" ] || { echo "fuzz: no target '$t' (proto, log, config)" >&2; exit 2; }
    # shellcheck disable=SC2086
    clang $flags -fsanitize=fuzzer -o "$out/fuzz_$t" "fuzz/fuzz_$t.c" ${sources[$t]} $libs
done
# shellcheck disable=SC2086
clang $flags -o "$seeds/fuzz_seeds" fuzz/fuzz_seeds.c lib/dtx_proto.c coordinator/dtx_log.c lib/dtx_util.c $libs
mkdir -p "$seeds/config"
"$seeds/fuzz_seeds" "$seeds"
cp etc/dtx-coordinator.cfg etc/dtx-participant.cfg "$seeds/config/"

status=0
for t in $targets; do
    mkdir -p "$out/corpus/$t"
    # -jobs=1 -workers=1 keeps one process; a finding exits non-zero
    if "$out/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$out/crashes/$t-" -print_final_stats=1 \
            "$out/corpus/$t" "$seeds/$t" >"$out/$t.log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$' || echo "?")
        cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$out/$t.log" | tail -n 1 || true)
        echo "fuzz: $t ok, $runs runs in ${seconds}s ($cov, corpus $(ls "$out/corpus/$t" | wc -l))"
    else
        status=1
        echo "fuzz: $t FAILED (log $out/$t.log, input in $out/crashes/):"
        grep -A 30 -m 1 -E '^==[0-9]+==ERROR|runtime error|fuzz_[a-z]+: |deadly signal|SUMMARY' "$out/$t.log" | head -n 40
    fi
done
exit $status
