#!/usr/bin/env bash
# check-docs.sh - do the man pages and the systemd units agree with the code?
#
# Run from the top of a built tree: ./scripts/check-docs.sh
# (a VPATH build: run it from the build directory; the sources are found
# next to this script).  Prints one line per check and a summary; exits 1
# when a check fails, naming what is missing:
#   * every --option of a program (its --help output and its getopt table)
#     has an entry (a .TP tag) in its man page's OPTIONS section;
#   * every config key its loader reads (the *_config_keys list and the
#     keys dtx_*_config_apply compares) has an entry in the man page's
#     CONFIGURATION section and is in the sample config etc/*.cfg;
#   * every function declared in lib/dtx.h is in libdtx.3's SYNOPSIS and
#     described after it;
#   * the man pages lint clean: groff -ww (and mandoc -Tlint -W warning
#     when mandoc is installed) print nothing;
#   * with systemd-analyze: `systemd-analyze verify` of the generated units
#     prints nothing (their Documentation= man pages resolved by man(1)
#     from a scratch prefix whose bin is on PATH, see docs/operations.md),
#     their exposure (`systemd-analyze security --offline`) is at most
#     2.5, and every Documentation= target is installed by make install.
set -u
src="$(cd "$(dirname "$0")/.." && pwd)"
build="$PWD"
[ -x "$build/coordinator/dtx-coordinator" ] || build="$src"
checks=0
failed=0

s_ok () {
    checks=$((checks + 1))
    printf 'ok    %s\n' "$1"
}
s_fail () {
    checks=$((checks + 1))
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$1"
}

# A man page as plain words: roff escapes for hyphens, fonts and
# zero-width breaks removed (\- -> -, \fB -> "", \& \% -> "")
s_man_text () {
    sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\[&%]//g' "$1"
}
# One section (.SH NAME up to the next .SH) of a man page, as plain words
s_man_section () {
    s_man_text "$1" | awk -v name="$2" '
        /^\.SH/ { on = ($0 ~ "^\\.SH \"?" name "\"?$") ; next }
        on { print }'
}
# The tags of a section's .TP entries (the line after each .TP), as plain
# words: an option or a key is documented when it has an entry of its own
s_man_tags () {
    s_man_section "$1" "$2" | awk 'tag { print; tag = 0 } /^\.TP/ { tag = 1 }'
}
# Does text on stdin hold WORD as a whole word (hyphens and underscores
# are part of a word)?
s_has_word () {
    grep -Eq -- "(^|[^A-Za-z0-9_-])$1([^A-Za-z0-9_-]|\$)"
}

# ---------------------------------------------------------------------
# Options: --help and the getopt table against the man page
s_check_options () {
    local program="$1" source="$2" page="$3"
    local exe="$build/$program" options missing="" count=0
    if [ ! -x "$exe" ]; then
        s_fail "options: $program not built (run make first)"
        return
    fi
    # --version is taken by dtx_options_parse before getopt, for both
    # (from --help, the lines that start with options, up to the two
    # blanks before the description: not an option named in a description)
    options="$( { "$exe" --help 2>/dev/null | sed -n -E 's/^ +(--[^ ].*)$/\1/p' | sed 's/  .*//' \
                  | grep -oE -- '--[a-z][a-z0-9-]*'
                  sed -n 's/^ *{ *"\([a-z][a-z0-9-]*\)", *[a-z_]*argument.*/--\1/p' "$src/$source"
                  echo --version; } | sort -u)"
    local text
    text="$(s_man_tags "$src/$page" OPTIONS)"
    for option in $options; do
        count=$((count + 1))
        printf '%s\n' "$text" | s_has_word "$option" || missing="$missing $option"
    done
    if [ -n "$missing" ]; then
        s_fail "options: OPTIONS of $page has no entry for$missing (from $program --help / $source)"
    else
        s_ok "options: all $count of $(basename "$program") have an entry in OPTIONS of $page"
    fi
}

# ---------------------------------------------------------------------
# Config keys: the loader's list against the man page and the sample
s_check_keys () {
    local loader="$1" page="$2" sample="$3"
    local keys missing="" unsampled="" count=0
    keys="$( { awk '/_config_keys *\[\] *= *\{/ { on = 1 } on { print } on && /NULL/ { exit }' "$src/$loader" \
               | grep -oE '"[a-z][a-z0-9-]*"' | tr -d '"'
               grep -oE 'streq \(key, "[a-z][a-z0-9-]*"\)' "$src/$loader" | grep -oE '"[^"]*"' | tr -d '"'
             } | sort -u)"
    if [ -z "$keys" ]; then
        s_fail "config keys: no keys found in $loader (has the list moved?)"
        return
    fi
    local section
    section="$(s_man_tags "$src/$page" CONFIGURATION)"
    for key in $keys; do
        count=$((count + 1))
        printf '%s\n' "$section" | s_has_word "$key" || missing="$missing $key"
        grep -Eq "^[[:space:]]*(#[[:space:]]*)?${key}[[:space:]]*=" "$src/$sample" || unsampled="$unsampled $key"
    done
    if [ -n "$missing" ]; then
        s_fail "config keys: CONFIGURATION of $page has no entry for$missing (read in $loader)"
    else
        s_ok "config keys: all $count of $loader have an entry in CONFIGURATION of $page"
    fi
    if [ -n "$unsampled" ]; then
        s_fail "config keys: sample $sample lacks$unsampled (read in $loader)"
    else
        s_ok "config keys: all $count in sample $sample"
    fi
}

# ---------------------------------------------------------------------
# libdtx: dtx.h's functions against libdtx.3
s_check_functions () {
    local header="lib/dtx.h" page="man/libdtx.3"
    local functions synopsis described undeclared="" undescribed="" count=0
    functions="$(grep -oE '^[[:space:]]+(dtx_[a-z0-9_]+)[[:space:]]*\(' "$src/$header" \
                 | grep -oE 'dtx_[a-z0-9_]+' | sort -u)"
    synopsis="$(s_man_section "$src/$page" SYNOPSIS)"
    described="$(s_man_text "$src/$page" | awk '/^\.SH/ { on = ($0 !~ /^\.SH "?(SYNOPSIS|NAME)"?$/); next } on')"
    for function in $functions; do
        count=$((count + 1))
        printf '%s\n' "$synopsis" | grep -Eq "[^a-z0-9_]$function \\(" || undeclared="$undeclared $function"
        printf '%s\n' "$described" | s_has_word "$function" || undescribed="$undescribed $function"
    done
    if [ -n "$undeclared" ]; then
        s_fail "functions: SYNOPSIS of $page lacks$undeclared (declared in $header)"
    else
        s_ok "functions: all $count of $header in SYNOPSIS of $page"
    fi
    if [ -n "$undescribed" ]; then
        s_fail "functions: $page does not describe$undescribed (declared in $header)"
    else
        s_ok "functions: all $count of $header described in $page"
    fi
}

# ---------------------------------------------------------------------
# Lint: groff -ww, and mandoc when it is there
s_check_lint () {
    local page out
    for page in "$src"/man/*.[1-8]; do
        out="$(groff -man -Tutf8 -ww -z "$page" 2>&1)"
        if [ -n "$out" ]; then
            s_fail "lint: groff -ww man/$(basename "$page"): $(printf '%s' "$out" | head -3 | tr '\n' ' ')"
        else
            s_ok "lint: groff -ww man/$(basename "$page")"
        fi
        if command -v mandoc >/dev/null; then
            out="$(mandoc -Tlint -W warning "$page" 2>&1)"
            if [ -n "$out" ]; then
                s_fail "lint: mandoc man/$(basename "$page"): $(printf '%s' "$out" | head -3 | tr '\n' ' ')"
            else
                s_ok "lint: mandoc -Tlint man/$(basename "$page")"
            fi
        fi
    done
    command -v mandoc >/dev/null || s_ok "lint: mandoc not installed, groff only"
}

# ---------------------------------------------------------------------
# systemd units: verify, exposure, Documentation= targets installed
s_check_units () {
    local units="etc/dtx-coordinator.service etc/dtx-participant@.service"
    local unit out score
    if ! command -v systemd-analyze >/dev/null; then
        s_ok "units: systemd-analyze not installed, not verified"
        return
    fi
    for unit in $units; do
        if [ ! -f "$build/$unit" ]; then
            s_fail "units: $unit not generated (run make first)"
            return
        fi
    done
    # A scratch prefix: the built programs in bin (verify wants ExecStart
    # to exist) and the man pages in share/man, where man(1) looks for
    # each bin directory on PATH (man-db's manpath from PATH): the same
    # lookup as for an installed /usr or /usr/local, no MANPATH
    local tmp
    tmp="$(mktemp -d)"
    mkdir -p "$tmp/bin" "$tmp/share/man" "$tmp/lib/systemd/system"
    ln -s "$build/coordinator/dtx-coordinator" "$tmp/bin/dtx-coordinator"
    ln -s "$build/participant/dtx-participant" "$tmp/bin/dtx-participant"
    for page in "$src"/man/*.[1-8]; do
        mkdir -p "$tmp/share/man/man${page##*.}"
        cp "$page" "$tmp/share/man/man${page##*.}/"
    done
    for unit in $units; do
        sed -E "s|^(Exec[A-Za-z]*=[-@!+]*)[^ ]*/(dtx-[a-z]+)|\\1$tmp/bin/\\2|" "$build/$unit" \
            > "$tmp/lib/systemd/system/$(basename "$unit")"
    done
    local copies
    copies="$(for unit in $units; do echo "$tmp/lib/systemd/system/$(basename "$unit")"; done)"
    local rc=0
    # shellcheck disable=SC2086
    out="$(cd "$tmp" && env -u MANPATH PATH="$tmp/bin:$PATH" systemd-analyze verify $copies 2>&1)" || rc=$?
    if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
        s_fail "units: systemd-analyze verify: $(printf '%s' "$out" | sed "s|$tmp|SCRATCH|g" | tr '\n' ' ')"
    else
        s_ok "units: systemd-analyze verify clean ($(for unit in $units; do basename "$unit"; done | tr '\n' ' '| sed 's/ $//'))"
    fi
    cp "$tmp/lib/systemd/system/dtx-participant@.service" "$tmp/lib/systemd/system/dtx-participant@check.service"
    for unit in dtx-coordinator.service dtx-participant@check.service; do
        score="$(cd "$tmp/lib/systemd/system" && systemd-analyze security --offline=true "./$unit" 2>&1 \
                 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
        if [ -z "$score" ]; then
            s_fail "units: systemd-analyze security $unit gave no score"
        elif awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then
            s_ok "units: exposure $score of $unit (at most 2.5)"
        else
            s_fail "units: exposure $score of $unit is above 2.5 (systemd-analyze security)"
        fi
    done
    # Every Documentation= target is installed by make install
    local target missing=""
    for target in $(sed -n 's/^Documentation=//p' "$src"/etc/*.service.in | tr ' ' '\n' | sort -u); do
        case "$target" in
            man:*)
                local name="${target#man:}" page
                page="man/${name%%(*}.$(printf '%s' "$name" | sed 's/.*(\([0-9]\)).*/\1/')"
                [ -f "$src/$page" ] && grep -q "$page" "$src/Makefile.am" || missing="$missing $target"
                ;;
            file://@docdir@/*)
                local doc="${target#file://@docdir@/}"
                [ -f "$src/docs/$doc" ] && grep -q "docs/$doc" "$src/Makefile.am" || missing="$missing $target"
                ;;
            *)  missing="$missing $target(not man: or file://@docdir@/)" ;;
        esac
    done
    if [ -n "$missing" ]; then
        s_fail "units: Documentation= not installed by make install:$missing"
    else
        s_ok "units: every Documentation= target is installed (man pages, \$(docdir))"
    fi
    rm -rf "$tmp"
}

s_check_options coordinator/dtx-coordinator coordinator/dtx-coordinator.c man/dtx-coordinator.8
s_check_options participant/dtx-participant participant/dtx-participant.c man/dtx-participant.8
s_check_keys coordinator/coord_config.c man/dtx-coordinator.8 etc/dtx-coordinator.cfg
s_check_keys participant/dtx_participant_config.c man/dtx-participant.8 etc/dtx-participant.cfg
s_check_functions
s_check_lint
s_check_units

echo "check-docs: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
