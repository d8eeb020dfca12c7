#!/usr/bin/env bash
# Quickstart 1: what csirtd's OpenPGP handling is for, on one screen.
#
# Makes throwaway keys with gpg (team, two reporters, a handler, and
# "mallory", who puts the handler's address in his own key), delivers the
# example reports from fixtures/reports/ plus signed demo reports made here
# (PGP/MIME, inline cleartext, altered after signing, by an unknown key)
# into a Maildir, runs the daemon once (run --drain), then delivers a reply
# forged in the handler's name on one of the demo's tickets and runs again.
# It prints each report's verdict, what became of the forgery, and gpg's
# check of one team-signed acknowledgement. Nothing is sent anywhere: the
# outbox writes .eml files.
#
# Environment:
#   CSIRTD_BIN        csirtd binary to use (no build then)
#   CARGO_TARGET_DIR  where `cargo build --release` puts it otherwise
#   DEMO_DIR          state directory (default target/demo); the keys, the
#                     generated csirtd.toml, store, Maildir and outbox
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

scripts/prereqs.sh

if [ -n "${CSIRTD_BIN:-}" ]; then
    bin=$CSIRTD_BIN
else
    cargo build --release
    bin="${CARGO_TARGET_DIR:-target}/release/csirtd"
fi
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

demo=${DEMO_DIR:-target/demo}
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)
cfg="$demo/csirtd.toml"

# Only what this script makes is removed: DEMO_DIR may name a directory
# that holds other things.
rm -rf "$demo/gnupg" "$demo/keyring" "$demo/store" "$demo/maildir" \
    "$demo/outbox" "$demo/mail" "$demo/verify" "$demo/team.asc" "$cfg" "$demo/ack.txt"
mkdir -p "$demo/maildir/new" "$demo/maildir/cur" "$demo/maildir/tmp" \
    "$demo/outbox" "$demo/mail" "$demo/keyring" "$demo/verify"

# ---------------------------------------------------------------- keys
export GNUPGHOME="$demo/gnupg"
mkdir -m 700 "$GNUPGHOME"
# The agent gpg starts for this home is ours to stop.
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true' EXIT

g() {
    gpg --batch --yes --quiet --pinentry-mode loopback --passphrase '' "$@"
}

# Prints the fingerprint of a new ed25519/cv25519 key for the user ID $1.
# Keys are named by fingerprint from here on: hanna's and mallory's user
# IDs are the same.
newkey() {
    local fpr
    fpr=$(g --status-fd 1 --quick-gen-key "$1" ed25519 sign,cert never |
        perl -ne 'print $1 if /^\[GNUPG:\] KEY_CREATED \S+ ([0-9A-F]{40})/')
    [ -n "$fpr" ] || { echo "demo.sh: gpg made no key for $1" >&2; exit 1; }
    g --quick-add-key "$fpr" cv25519 encr never
    echo "$fpr"
}

echo "== Making throwaway OpenPGP keys with gpg in $GNUPGHOME"
team=$(newkey "CERT Example <cert@cert.example>")
alice=$(newkey "Alice Reporter <alice@partner-cert.example>")
bob=$(newkey "Bob NOC <noc@isp-west.example>")
hanna=$(newkey "Hanna Handler <hanna@cert.example>")
mallory=$(newkey "Hanna Handler <hanna@cert.example>")
carol=$(newkey "Carol Hoster <abuse@hoster-sued.example>")
printf '  %-9s %s  %s\n' \
    team "$team" "cert@cert.example (team key, signs what csirtd sends)" \
    alice "$alice" "alice@partner-cert.example (reporter, in the keyring)" \
    bob "$bob" "noc@isp-west.example (reporter, in the keyring)" \
    hanna "$hanna" "hanna@cert.example (the configured handler)" \
    mallory "$mallory" "hanna@cert.example (attacker: same user ID, other key)" \
    carol "$carol" "abuse@hoster-sued.example (NOT in the keyring)"

# mallory's certificate goes into the keyring too, as a key picked up from
# a keyserver would: his signatures then verify as good for the handler's
# address, and only the configured fingerprint tells him from hanna.
for who in alice bob hanna mallory; do
    g --armor --export "${!who}" >"$demo/keyring/$who.asc"
done
(umask 077 && g --armor --export-secret-keys "$team" >"$demo/team.asc")
chmod 600 "$demo/team.asc"
# Settled now, so that gpg --verify below prints no trust database chatter.
g --check-trustdb >/dev/null 2>&1 || true

# ---------------------------------------------------------------- config
# config/demo.toml is the base; its paths point from config/ into
# target/demo/, and this config lives in the demo directory itself.
cp config/ack.txt "$demo/ack.txt"
perl -pe 's{"\.\./target/demo/}{"}' config/demo.toml >"$cfg"
if grep -q '"\.\./' "$cfg"; then
    echo "demo.sh: config/demo.toml has a path outside target/demo/ that this script does not rewrite" >&2
    exit 1
fi
cat >>"$cfg" <<EOF

[pgp]
keyring = "keyring"
team_key = "team.asc"

[[handlers]]
name = "hanna"
email = "hanna@cert.example"
fingerprint = "$hanna"

# The daemon's log would bury the tables below; warnings still show.
[log]
level = "warn"
EOF

# ---------------------------------------------------------------- mail
crlf() { perl -pe 's/\r?\n\z/\r\n/'; }
now=$(date +%s)
n=0

# Delivers file $1 the way an MTA does: written in tmp/, renamed into new/,
# under names that sort in delivery order.
deliver() {
    n=$((n + 1))
    local name
    name=$(printf '%s.%03d.demo' "$now" "$n")
    cp "$1" "$demo/maildir/tmp/$name"
    mv "$demo/maildir/tmp/$name" "$demo/maildir/new/$name"
}

# headers FROM SUBJECT ID: the top of a demo mail, CRLF.
headers() {
    printf 'From: %s\nTo: CERT Example <cert@cert.example>\nSubject: %s\nDate: %s\nMessage-ID: <%s.%s@demo.example>\n' \
        "$1" "$2" "$(LC_ALL=C date -R)" "$3" "$now" | crlf
}

# pgpmime SIGNER OUT HEADERS_FILE BODY_FILE [ALTER]: an RFC 3156
# multipart/signed mail. The signature covers the exact CRLF bytes of the
# first part; with ALTER (a perl substitution) the part is changed after
# signing, as a relay on the way might.
pgpmime() {
    local signer=$1 out=$2 hdrs=$3 body=$4 alter=${5:-}
    local part="$out.part"
    {
        printf 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n'
        cat "$body"
    } | crlf >"$part"
    g --armor --detach-sign --digest-algo SHA256 --local-user "$signer" \
        --output "$out.sig" "$part"
    if [ -n "$alter" ]; then
        perl -pi -e "$alter" "$part"
    fi
    {
        cat "$hdrs"
        printf 'MIME-Version: 1.0\r\n'
        printf 'Content-Type: multipart/signed; micalg=pgp-sha256;\r\n'
        printf '\tprotocol="application/pgp-signature"; boundary="demo-sig"\r\n\r\n'
        printf -- '--demo-sig\r\n'
        cat "$part"
        printf '\r\n--demo-sig\r\n'
        printf 'Content-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
        crlf <"$out.sig"
        printf -- '--demo-sig--\r\n'
    } >"$out"
    rm -f "$part" "$out.sig"
}

m="$demo/mail"

cat >"$m/alice.txt" <<'EOF'
Hello CERT Example,

a phishing kit impersonating a webmail login is hosted at
http://webmail-verify.example.net/login/ on 203.0.113.50. We saw
credentials of three of your constituents posted to it this morning.

Regards,
Alice, Partner CERT
EOF
headers "Alice Reporter <alice@partner-cert.example>" \
    "Demo PGP/MIME signed: phishing kit on 203.0.113.50" alice-good >"$m/alice.hdr"
pgpmime "$alice" "$m/1-pgpmime-good.eml" "$m/alice.hdr" "$m/alice.txt"

cat >"$m/bob.txt" <<'EOF'
Hi,

198.51.100.23 in your constituency has been scanning our customers on
port 22/tcp since 06:10 UTC, about 40,000 attempts so far.

Bob, ISP West NOC
EOF
{
    headers "Bob NOC <noc@isp-west.example>" \
        "Demo inline clearsigned: SSH scanning from 198.51.100.23" bob-clear
    printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
    g --clearsign --digest-algo SHA256 --local-user "$bob" --output - "$m/bob.txt" | crlf
} >"$m/2-clearsigned-good.eml"

cat >"$m/altered.txt" <<'EOF'
Hello,

please block the botnet controller at 203.0.113.77, port 8443/tcp.

Alice, Partner CERT
EOF
headers "Alice Reporter <alice@partner-cert.example>" \
    "Demo altered after signing: botnet controller" alice-altered >"$m/altered.hdr"
pgpmime "$alice" "$m/3-altered-bad.eml" "$m/altered.hdr" "$m/altered.txt" \
    's/203\.0\.113\.77/192.0.2.200/'

cat >"$m/carol.txt" <<'EOF'
Hello,

one of our customers' servers, 192.0.2.45, sends spam that names your
constituent's shop. We took it offline.

Carol, Hoster Sued abuse desk
EOF
headers "Carol Hoster <abuse@hoster-sued.example>" \
    "Demo signed by a key not in the keyring: spam from 192.0.2.45" carol-unknown >"$m/carol.hdr"
pgpmime "$carol" "$m/4-unknown-key.eml" "$m/carol.hdr" "$m/carol.txt"

i=0
for f in fixtures/reports/*.eml; do
    deliver "$f"
    i=$((i + 1))
done
for f in "$m"/[0-9]-*.eml; do
    deliver "$f"
done
echo
echo "== Delivered $i example reports from fixtures/reports/ and $((n - i)) signed demo reports into $demo/maildir/new/"
echo

"$bin" --config "$cfg" check-config
echo

# Process everything present in the Maildir, deliver the outbox, and exit.
echo "== $bin --config $cfg run --drain"
"$bin" --config "$cfg" run --drain
echo

# ---------------------------------------------------------------- forgery
# The ticket of alice's signed report, found by its subject.
target=$("$bin" --config "$cfg" ticket list |
    perl -ne '$id //= $1 if /^(\S+)\s.*Demo PGP\/MIME signed/; END { print "$id\n" if defined $id }')
if [ -z "$target" ]; then
    echo "demo.sh: the ticket of the PGP/MIME demo report is missing from ticket list" >&2
    exit 1
fi
tag="[CERT-EX #$target]"

# From the handler's address, with the ticket's tag in the Subject and in
# the signed text, a command and words for the reporter; signed with
# mallory's key, whose user ID is the handler's.
cat >"$m/forged.txt" <<EOF
/status resolved

$tag
Thank you, this is handled. To confirm your report, log in at
http://cert-example-verify.example.net/ with your mail password.

Hanna
EOF
headers "Hanna Handler <hanna@cert.example>" \
    "Re: $tag Demo PGP/MIME signed: phishing kit on 203.0.113.50" forged >"$m/forged.hdr"
pgpmime "$mallory" "$m/5-forged-handler-reply.eml" "$m/forged.hdr" "$m/forged.txt"
deliver "$m/5-forged-handler-reply.eml"
echo "== Delivered a reply forged in the handler's name on $tag, signed by mallory"
echo "== $bin --config $cfg run --drain"
"$bin" --config "$cfg" run --drain
echo

# ---------------------------------------------------------------- report
# A minimal JSON reader: perl-base (essential on Debian) has no JSON
# module. Sender-chosen text is shown with control characters replaced.
json_pl='
sub ws { ${$_[0]} =~ /\G\s*/gc }
sub str {
    my $r = shift; ws($r);
    ${$r} =~ /\G"((?:[^"\\]++|\\.)*+)"/gc or die "json: string expected\n";
    my $s = $1;
    $s =~ s/\\(u[0-9a-fA-F]{4}|.)/length($1) > 1 ? chr(hex(substr($1, 1))) : ($1 eq "n" ? "\n" : $1 eq "t" ? "\t" : $1 eq "r" ? "\r" : $1 eq "b" ? "\b" : $1 eq "f" ? "\f" : $1)/ge;
    return $s;
}
sub val {
    my $r = shift; ws($r);
    if (${$r} =~ /\G\{/gc) {
        my %h; ws($r);
        return \%h if ${$r} =~ /\G\}/gc;
        while (1) {
            my $k = str($r); ws($r);
            ${$r} =~ /\G:/gc or die "json: colon expected\n";
            $h{$k} = val($r); ws($r);
            next if ${$r} =~ /\G,/gc;
            ${$r} =~ /\G\}/gc or die "json: object not closed\n";
            return \%h;
        }
    }
    if (${$r} =~ /\G\[/gc) {
        my @a; ws($r);
        return \@a if ${$r} =~ /\G\]/gc;
        while (1) {
            push @a, val($r); ws($r);
            next if ${$r} =~ /\G,/gc;
            ${$r} =~ /\G\]/gc or die "json: array not closed\n";
            return \@a;
        }
    }
    # Without /g: Perl refuses a second empty /g match where ws() just made one.
    return str($r) if ${$r} =~ /\G(?=")/;
    return $1 if ${$r} =~ /\G(-?[0-9][0-9.eE+-]*|true|false)/gc;
    return undef if ${$r} =~ /\Gnull/gc;
    die "json: value expected\n";
}
sub clean { my $s = shift // "-"; $s =~ s/[\x00-\x1f\x7f-\x9f]/?/g; $s }
sub addr { my $s = shift // "-"; $s =~ /<([^<>]*)>\s*\z/ ? $1 : $s }
sub cut { my ($s, $n) = @_; length($s) > $n ? substr($s, 0, $n - 1) . "\x{2026}" : $s }
local $/; my $in = <STDIN>; utf8::decode($in);
binmode STDOUT, ":utf8";
my $t = val(\$in);
'

table_pl='
for my $m (@{ $t->{messages} }) {
    next unless $m->{direction} eq "in";
    my $sig = $m->{signature};
    my $verdict = $sig ? $sig->{status} : "-";
    my @flags = (@{ $m->{flags} });
    printf "%-11s %-12s %-28s %-20s %s\n", $t->{id}, $verdict,
        cut(clean(addr($m->{from})), 28), cut(join(",", @flags) || "-", 20),
        cut(clean($m->{subject}), 56);
}
'

# What became of the forgery, said only as far as the store shows it.
forged_pl='
my @events = @{ $t->{events} };
my $relayed = grep { $_->{kind} eq "relayed" } @events;
my $flagged = 0;
for my $m (@{ $t->{messages} }) {
    next unless $m->{direction} eq "in" && addr($m->{from}) eq "hanna\@cert.example";
    my $s = $m->{signature} || {};
    $flagged = grep { $_ eq "unverified-handler" } @{ $m->{flags} };
    printf "  forged reply: verdict %s, signer 0x%s, message flags %s\n",
        $s->{status} // "-", $s->{signer_fingerprint} // "-", join(", ", @{ $m->{flags} }) || "-";
}
for my $e (@events) {
    next unless $e->{kind} eq "warning" && $e->{detail} =~ /claims to be handler/;
    printf "  warning: %s\n", clean($e->{detail});
}
printf "  ticket %s status: %s (%s)\n", $t->{id}, $t->{status},
    $t->{status} eq "resolved" ? "the forged /status resolved RAN" : "the forged /status resolved did not run";
printf "  relayed events: %d (%s)\n", $relayed,
    $relayed ? "RELAYED to the reporter" : "nothing went to the reporter in the handler\x{2019}s name";
printf "  %s\n", ($flagged && !$relayed && $t->{status} ne "resolved")
    ? "REFUSED: not relayed, command not run, handlers warned"
    : "NOT REFUSED";
'

# The outbox entries of one ticket ($TICKET), from outbox list --json.
outbox_pl='
for my $o (@$t) {
    next unless ($o->{ticket} // "") eq $ENV{TICKET};
    printf "    %-6s %-28s %s\n", $o->{state}, cut(join(",", @{ $o->{to} }), 28), cut(clean($o->{subject}), 70);
}
'

ids=$("$bin" --config "$cfg" ticket list | perl -ne 'print "$1\n" if /^(\d{4}-\d+)\s/')

echo "== Verdicts: every incoming message, per ticket (ticket show --json)"
printf '%-11s %-12s %-28s %-20s %s\n' TICKET VERDICT FROM "MESSAGE FLAGS" SUBJECT
for id in $ids; do
    "$bin" --config "$cfg" ticket show --json "$id" | perl -e "$json_pl$table_pl"
done
echo

echo "== The forged handler reply on $tag"
"$bin" --config "$cfg" ticket show --json "$target" | perl -e "$json_pl$forged_pl"
echo "  its outbox mail (outbox list --json):"
"$bin" --config "$cfg" outbox list --json | TICKET=$target perl -e "$json_pl$outbox_pl"
echo "  all outbox mail: $bin --config $cfg outbox list"
echo

# ---------------------------------------------------------------- gpg
# One acknowledgement that is signed and not encrypted (the example
# reporters have no keys in the keyring), checked by gpg as a reporter's
# mail client would: the exact bytes of the first part against the
# detached signature.
ack=""
for f in "$demo"/outbox/*.eml; do
    if perl -e '
        local $/; my $t = <>;
        my ($h) = split /\r?\n\r?\n/, $t, 2;
        $h =~ s/\r?\n[ \t]+/ /g;
        exit(($h =~ m{^Content-Type:\s*multipart/signed}mi
            && $h =~ m{^To:.*soc\@nordbank\.example}mi) ? 0 : 1);
    ' "$f"; then
        ack=$f
        break
    fi
done
if [ -z "$ack" ]; then
    echo "demo.sh: no signed acknowledgement to soc@nordbank.example in $demo/outbox" >&2
    exit 1
fi
perl -e '
    my ($file, $part, $sig) = @ARGV;
    open my $in, "<:raw", $file or die "$file: $!\n";
    local $/; my $t = <$in>;
    my ($h, $body) = split /\r\n\r\n/, $t, 2;
    $h =~ s/\r\n[ \t]+/ /g;
    my ($b) = $h =~ /boundary="?([^";\r\n]+)"?/i or die "$file: no boundary\n";
    my $d = "--$b\r\n";
    # The delimiter starts the body or follows a CRLF.
    my $s = index("\r\n$body", "\r\n$d");
    die "$file: no first part\n" if $s < 0;
    $s += length $d;
    my $e = index($body, "\r\n--$b", $s);
    die "$file: first part not closed\n" if $e < 0;
    my ($armor) = $body =~ /(-----BEGIN PGP SIGNATURE-----.*?-----END PGP SIGNATURE-----)/s
        or die "$file: no signature\n";
    open my $p, ">:raw", $part or die; print $p substr($body, $s, $e - $s); close $p;
    open my $g, ">:raw", $sig or die; print $g "$armor\n"; close $g;
' "$ack" "$demo/verify/part" "$demo/verify/part.asc"
echo "== gpg checks the acknowledgement $(basename "$ack") to soc@nordbank.example:"
echo "   gpg --verify part.asc part   (in $demo/verify/)"
gpg --batch --verify "$demo/verify/part.asc" "$demo/verify/part" 2>&1 | sed 's/^/  /'
echo

echo "To look at one ticket, its messages and events:"
echo "  $bin --config $cfg ticket show $target"
echo "(add --json for machine-readable output)"
