# check-counts.sh - sourced by test.sh and sanitize.sh: the numbers of a
# Check summary line ("100%: Checks: N, Failures: F, Errors: E")
#
#   check_counts LINE    sets n (checks), f (failures), e (errors)
check_counts () {
    n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$1")
    f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$1")
    e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$1")
}
