#!/usr/bin/env bash
# Quickstart 1: build csirtd, feed the example reports in fixtures/reports/
# through a Maildir, and show the tickets and acknowledgements it made.
# Everything is kept under target/demo/ (see config/demo.toml); nothing is
# sent anywhere.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/prereqs.sh

cargo build --release

bin=target/release/csirtd
cfg=config/demo.toml

rm -rf target/demo
mkdir -p target/demo/maildir/new target/demo/maildir/cur target/demo/maildir/tmp target/demo/outbox

# Deliver the reports the way an MTA would: one file per message in new/,
# with unique Maildir-style names that sort in fixture order.
now=$(date +%s)
i=0
for f in fixtures/reports/*.eml; do
    i=$((i + 1))
    name=$(printf '%s.%03d.demo' "$now" "$i")
    cp "$f" "target/demo/maildir/tmp/$name"
    mv "target/demo/maildir/tmp/$name" "target/demo/maildir/new/$name"
done
echo "Delivered $i reports into target/demo/maildir/new/"
echo

"$bin" --config "$cfg" check-config
echo

# Process everything present in the Maildir, deliver the outbox, and exit.
"$bin" --config "$cfg" run --drain
echo

echo "== Tickets: $bin --config $cfg ticket list"
"$bin" --config "$cfg" ticket list
echo

echo "== Outbox: $bin --config $cfg outbox list"
"$bin" --config "$cfg" outbox list
echo

echo "== The acknowledgements were written as .eml files into target/demo/outbox/:"
ls -1 target/demo/outbox
echo

year=$(date +%Y)
echo "To look at one ticket, its messages and events:"
echo "  $bin --config $cfg ticket show ${year}-00001"
echo "(ticket IDs use the current year; add --json for machine-readable output)"
