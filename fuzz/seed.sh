#!/usr/bin/env bash
# Seeds each fuzz target's corpus from the shared mail corpus (never
# copied into the repository: fuzz/corpus/ is ignored by git).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
src="${CSIRTD_CORPUS:-$(cd ../.. && pwd)/shared/corpus}"
[ -d "$src" ] || { echo "no corpus at $src (set CSIRTD_CORPUS)" >&2; exit 1; }
seed() { # target, find expression...
  local t="$1"; shift
  mkdir -p "corpus/$t"
  find "$src" -type f "$@" -size -256k -print0 | xargs -0 -I{} sh -c 'cp "$1" "corpus/'"$t"'/$(sha1sum "$1" | cut -c1-16)"' _ {}
}
for t in mail_parse pgp_examine reports; do
  seed "$t" ! -name '*.json' ! -name '*.asc' ! -name '*.key'
done
seed indicators -path '*abuse*'
seed subject_tags -path '*mime*' -name '*.eml'
seed reply_strip -path '*thunderbird*' -name '*.eml'
# The project's own fixtures hold the formats the shared corpus lacks
# (ACNS notices, IODEF, X-ARF).
find ../fixtures -type f -size -256k -print0 | xargs -0 -I{} sh -c 'cp "$1" "corpus/reports/$(sha1sum "$1" | cut -c1-16)"' _ {}
for t in corpus/*; do echo "$t: $(ls "$t" | wc -l) seeds"; done
