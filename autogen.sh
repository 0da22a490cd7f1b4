#!/bin/sh
# autogen.sh - make ./configure in a git clone (it is not kept in git):
# then ./configure && make (README.md, "Build from source")
set -e
cd "$(dirname "$0")"
autoreconf -fi
echo "autogen.sh: now ./configure [--prefix=DIR] && make"
