# progress.sh - sourced by test.sh and sanitize.sh: while a long step runs,
# print a line every DTX_TEST_PROGRESS seconds (default 30; 0: never) with
# the Check cases finished so far, and each failed case as soon as it ends.
# The cases come from tests/test_*.progress (one line per finished case,
# written by Check through CK_LOG_FILE_NAME: tests/Makemodule.am).
#
#   progress_start LABEL DIR [SUITES]   DIR holds the tests/ folder to watch;
#                                       SUITES a glob (default test_*)
#   progress_stop

progress_pid=""

progress_start () {
    local label=$1 dir=$2 suites=${3:-test_*} every=${DTX_TEST_PROGRESS:-30}
    [ "$every" -gt 0 ] 2>/dev/null || return 0
    (
        start=$SECONDS seen=""
        while sleep "$every"; do
            done_=0 failed=0 running=""
            for f in "$dir"/tests/$suites.progress; do
                [ -f "$f" ] || continue
                d=$(grep -c ':[PFE]:' "$f" || true)
                done_=$((done_ + d))
                failed=$((failed + $(grep -c ':[FE]:' "$f" || true)))
                grep -q '^Results for all suites run' "$f" \
                    || running="$running $(basename "$f" .progress)"
                # each failed case once, as soon as it is seen
                while IFS= read -r line; do
                    case "$seen" in *"|$line|"*) continue ;; esac
                    seen="$seen|$line|"
                    echo "$label: FAILED $line"
                done < <(grep ':[FE]:' "$f" || true)
            done
            echo "$label: $done_ cases done, $failed failed, $((SECONDS - start))s;" \
                 "running:${running:- (building)}"
        done
    ) &
    progress_pid=$!
}

progress_stop () {
    [ -n "$progress_pid" ] || return 0
    kill "$progress_pid" 2>/dev/null || true
    wait "$progress_pid" 2>/dev/null || true
    progress_pid=""
}
