#!/usr/bin/env bash
# bootstrap.sh - install what the build needs (Debian 12) and build dtx.
# Idempotent: installs only missing packages, reconfigures only when needed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages="libzmq3-dev libczmq-dev libpq-dev libmicrohttpd-dev check autoconf automake libtool pkg-config
          make gcc postgresql-15 postgresql-client-15
          clang libclang-rt-14-dev spin mandoc"   # sanitizers and libFuzzer (sanitize.sh, fuzz.sh); the HA model (model-check.sh); man page lint (check-docs.sh)
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "bootstrap: installing$missing"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
# postgresql-15 may start a system cluster: dtx never uses it
[ -x /usr/lib/postgresql/15/bin/initdb ] || { echo "bootstrap: PostgreSQL 15 server missing" >&2; exit 1; }

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ ! -f Makefile.in ]; then
    autoreconf -fi >/dev/null
fi
# The test suite needs the crash-test hook (--enable-fault-injection); a
# production build leaves it out (./configure without it)
if [ ! -f Makefile ] || [ configure -nt Makefile ] \
   || ! grep -q -- '--enable-fault-injection' config.status 2>/dev/null; then
    ./configure -q --enable-fault-injection
fi
make -j"$(nproc)" >/dev/null
echo "bootstrap: built"
