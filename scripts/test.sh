#!/usr/bin/env bash
# Quickstart 2: install what the tests need (Dovecot, Postfix, OpenSSL,
# Python 3, build dependencies), then build and run the unit and
# integration tests. Extra arguments are passed to `cargo test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/prereqs.sh --test

# The shared sample corpus, when it sits next to the repository.
if [ -z "${CSIRTD_CORPUS:-}" ] && [ -d ../shared/corpus ]; then
    CSIRTD_CORPUS="$(cd ../shared/corpus && pwd)"
    export CSIRTD_CORPUS
fi

cargo test "$@"
