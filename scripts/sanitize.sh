#!/usr/bin/env bash
# sanitize.sh - the whole test suite again, built by clang with
# AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer.
#
# The build is a copy of the tree in tmp/sanitize/src (Automake refuses a
# VPATH build beside an in-tree one), configured with the sanitizers in
# CFLAGS and -no-install in LDFLAGS: programs are real executables, not
# libtool wrapper scripts, so the power-loss shim (LD_PRELOAD) is loaded
# by the instrumented coordinator and not by a shell that lacks the ASan
# runtime.  Incremental: files are copied with their times, so a second
# run rebuilds only what changed.
#
# Every instrumented process (test programs, their forked cases, the
# coordinators and participants they start) writes any sanitizer report
# to tmp/sanitize/reports/report.<pid>: a child's report fails the pass
# even where the test never looks at that child's exit status.  Processes
# killed on purpose (SIGKILL, fault injection) run no leak check.
#
# Prints one line "sanitize: N passed, M failed, R sanitizer reports" and
# exits non-zero if anything failed.  Run by scripts/test.sh; by hand it
# assumes scripts/bootstrap.sh has run (configure exists).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
. "$top/scripts/check-counts.sh"       # check_counts: the numbers of a Check summary
. "$top/scripts/progress.sh"           # progress_start/stop: a line every 30 s
trap progress_stop EXIT
work=${DTX_SANITIZE_DIR:-$top/tmp/sanitize}
src=$work/src
reports=$work/reports
command -v clang >/dev/null || { echo "sanitize: clang missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }

git rev-parse --is-inside-work-tree >/dev/null 2>&1 \
    || { echo "sanitize: needs a git checkout (it copies the files git knows)" >&2; exit 1; }

san_cflags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
mkdir -p "$src"
# The sources as they are in the work tree (tracked and new files), plus
# what autoreconf made, so that the copy needs no autoreconf of its own
{ git ls-files --cached --others --exclude-standard
  ls -d configure aclocal.m4 config.h.in build-aux m4
  find . -name Makefile.in -not -path './tmp/*'
} | sort -u | while read -r f; do [ -e "$f" ] && printf '%s\n' "$f"; done \
  | tar -cf - -T - | tar -C "$src" -xpf -

cd "$src"
stamp="CC=clang CFLAGS=$san_cflags"
if [ ! -f Makefile ] || [ configure -nt Makefile ] || [ "$(cat .sanitize-flags 2>/dev/null)" != "$stamp" ]; then
    CC=clang CFLAGS="$san_cflags" ./configure -q --enable-fault-injection
    echo "$stamp" > .sanitize-flags
fi
# -no-install (libtool, at make time: configure's compiler test would
# refuse it) links the programs against the build's libraries directly
make_args=(LDFLAGS=-no-install)
# Building needs no sanitizer options; running does
make -j"$(nproc)" "${make_args[@]}" >/dev/null

rm -rf "$reports" "$work/counts"
mkdir -p "$reports"
chmod 1777 "$reports"          # a test may run a program as another user
# halt/abort on the first finding; reports to files (a child's stderr is
# its log file, which nobody reads when it passes).  detect_leaks: LSan at
# every normal exit.  verify_asan_link_order: the shim is preloaded into
# a binary with the (static) runtime, harmless; say so rather than fail.
export ASAN_OPTIONS="log_path=$reports/report:halt_on_error=1:abort_on_error=1:detect_leaks=1:verify_asan_link_order=0:print_summary=1"
export UBSAN_OPTIONS="log_path=$reports/report:halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$top/scripts/lsan.supp:print_suppressions=0"
rm -f tests/test_*.log tests/test_*.trs tests/test_*.progress
status=0
progress_start sanitize "$src"
make -j2 "${make_args[@]}" check >/dev/null 2>&1 || status=$?
progress_stop

checks=0 failures=0 errors=0
for log in tests/test_*.log; do
    [ -f "$log" ] || continue
    line=$(grep -h "Checks:" "$log" | tail -n 1 || true)
    [ -n "$line" ] || { echo "sanitize: $log: no Check summary"; status=1; continue; }
    echo "sanitize: $(basename "$log" .log): $line"
    check_counts "$line"
    checks=$((checks + n)) failures=$((failures + f)) errors=$((errors + e))
done
[ "$checks" -gt 0 ] || { echo "sanitize: no test ran"; status=1; }
nreports=0
for report in "$reports"/*; do
    [ -f "$report" ] || continue
    nreports=$((nreports + 1))
    echo "== sanitizer report $report"
    head -n 80 "$report"
done
if [ $status -ne 0 ]; then
    for log in tests/test_*.log; do echo "== sanitize $log"; tail -n 40 "$log"; done
fi
[ $nreports -eq 0 ] || status=1
echo "sanitize: $((checks - failures - errors)) passed, $((failures + errors)) failed, $nreports sanitizer reports"
# for scripts/test.sh's closing line
echo "$((checks - failures - errors)) $((failures + errors)) $nreports" > "$work/counts"
exit $status
