#!/usr/bin/env bash
# The intake benchmark with sender authentication on (issue 14): nsd on a
# loopback port serves SPF and DMARC (p=reject) for the generated reporters'
# domains (reporter0.example ... reporter96.example), and
# `csirtd bench --auth-resolver` verifies every message through it (DKIM:
# the generated mails are unsigned, so DKIM is `none` without a lookup).
# Extra arguments go to `csirtd bench` (e.g. --messages 20000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v nsd >/dev/null 2>&1 && [ ! -x /usr/sbin/nsd ]; then
    scripts/prereqs.sh --test
fi
NSD=$(command -v nsd || echo /usr/sbin/nsd)

dir=$(mktemp -d)
port=${CSIRTD_BENCH_DNS_PORT:-15353}
trap 'kill "$(cat "$dir/nsd.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir"' EXIT

{
    printf '$ORIGIN example.\n$TTL 300\n'
    printf '@ IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60\n'
    printf '@ IN NS ns.example.\nns IN A 127.0.0.1\n'
    for i in $(seq 0 96); do
        printf 'reporter%d IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n' "$i"
        printf '_dmarc.reporter%d IN TXT "v=DMARC1; p=reject"\n' "$i"
    done
} > "$dir/example.zone"

cat > "$dir/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$port
  port: $port
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "$dir"
  pidfile: "$dir/nsd.pid"
  database: ""
  xfrdfile: "$dir/xfrd.state"
  xfrdir: "$dir"
  zonelistfile: "$dir/zone.list"
  logfile: "$dir/nsd.log"
  server-count: 1
  hide-version: yes
remote-control:
  control-enable: no
zone:
  name: "example"
  zonefile: "example.zone"
CONF

"$NSD" -c "$dir/nsd.conf"
for _ in $(seq 1 50); do
    [ -s "$dir/nsd.pid" ] && break
    sleep 0.1
done
sleep 0.5

cargo build --release
target/release/csirtd bench --auth-resolver "127.0.0.1:$port" "$@"
