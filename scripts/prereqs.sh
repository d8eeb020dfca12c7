#!/usr/bin/env bash
# Install what csirtd needs to build and run (and, with --test, to run its
# test suite) on Debian/Ubuntu. Idempotent: installed packages are left
# alone and apt-get runs only when something is missing.
#
#   scripts/prereqs.sh          build and run: clang libclang-dev nettle-dev pkg-config gnupg
#   scripts/prereqs.sh --test   also: dovecot-imapd dovecot-lmtpd postfix openssl python3 mutt
#                               nsd opendkim opendkim-tools chromium chromium-driver,
#                               and cargo-deb (cargo install)
#
# As root it installs directly, otherwise through sudo when available;
# failing both it prints the apt-get command to run and exits 1.
# May be executed or sourced; when sourced it runs in a subshell and
# returns its status instead of exiting the caller.

csirtd_prereqs() {
    set -euo pipefail

    local want_test=0 arg
    for arg in "$@"; do
        case "$arg" in
            --test) want_test=1 ;;
            -h|--help)
                sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
                return 0
                ;;
            *)
                echo "prereqs.sh: unknown argument '$arg' (expected --test)" >&2
                return 2
                ;;
        esac
    done

    local -a pkgs=(clang libclang-dev nettle-dev pkg-config gnupg)
    if [ "$want_test" -eq 1 ]; then
        pkgs+=(dovecot-imapd dovecot-lmtpd postfix openssl python3 mutt nsd opendkim opendkim-tools)
        # Headless Chromium and its WebDriver for the web desk's browser
        # tests (tests/web_browser.rs).
        pkgs+=(chromium chromium-driver)
    fi

    if ! command -v dpkg >/dev/null 2>&1; then
        echo "prereqs.sh: dpkg not found; this script knows only Debian and Ubuntu." >&2
        echo "prereqs.sh: install the equivalents of: ${pkgs[*]}" >&2
    else
        local -a missing=()
        local p status
        for p in "${pkgs[@]}"; do
            # Captured rather than piped into grep -q, which under pipefail
            # could report an installed package as missing (SIGPIPE).
            status=$(dpkg -s "$p" 2>/dev/null || true)
            case "$status" in
                *"Status: install ok installed"*) ;;
                *) missing+=("$p") ;;
            esac
        done

        if [ "${#missing[@]}" -gt 0 ]; then
            echo "prereqs.sh: missing Debian packages: ${missing[*]}" >&2
            local as_root=""
            if [ "$(id -u)" -ne 0 ]; then
                if command -v sudo >/dev/null 2>&1; then
                    as_root=sudo
                else
                    echo "prereqs.sh: not root and sudo is not available. As root, run:" >&2
                    echo >&2
                    case " ${missing[*]} " in
                        *" postfix "*)
                            echo "  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections" >&2
                            ;;
                    esac
                    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
                    echo >&2
                    return 1
                fi
            fi

            case " ${missing[*]} " in
                *" postfix "*)
                    # Install postfix without configuring a mail system:
                    # the tests run their own private instance.
                    echo "postfix postfix/main_mailer_type select No configuration" \
                        | $as_root debconf-set-selections
                    ;;
            esac
            $as_root apt-get update
            $as_root env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y --no-install-recommends "${missing[@]}"

            # The packages may have started system-wide services; the tests
            # start private instances on their own ports, so stop these.
            case " ${missing[*]} " in
                *" dovecot-"*)
                    $as_root service dovecot stop >/dev/null 2>&1 || true
                    ;;
            esac
            case " ${missing[*]} " in
                *" postfix "*)
                    $as_root postfix stop >/dev/null 2>&1 || true
                    ;;
            esac
            case " ${missing[*]} " in
                *" nsd "*)
                    $as_root service nsd stop >/dev/null 2>&1 || true
                    ;;
            esac
            case " ${missing[*]} " in
                *" opendkim "*)
                    $as_root service opendkim stop >/dev/null 2>&1 || true
                    ;;
            esac
        fi
    fi

    if ! command -v cargo >/dev/null 2>&1; then
        echo "prereqs.sh: cargo not found. Install Rust with rustup:" >&2
        echo >&2
        echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
        echo "  . \"\$HOME/.cargo/env\"" >&2
        echo >&2
        echo "(see https://rustup.rs), then run this command again." >&2
        return 1
    fi

    # cargo-deb builds the Debian package (scripts/deb.sh, tests/install.rs).
    # Pinned: its options and Cargo.toml keys change between major versions;
    # 3.8.0 builds with rustc 1.85 and later.
    local cargo_deb_version=3.8.0
    if [ "$want_test" -eq 1 ]; then
        case "$(cargo deb --version 2>/dev/null || true)" in
            *"$cargo_deb_version"*) ;;
            *)
                echo "prereqs.sh: installing cargo-deb $cargo_deb_version (cargo install)" >&2
                # Built in a temporary directory cargo removes afterwards,
                # not in the project's target directory.
                env -u CARGO_TARGET_DIR cargo install --locked --force \
                    --version "$cargo_deb_version" cargo-deb
                ;;
        esac
    fi
    return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    csirtd_prereqs "$@"
    exit $?
else
    ( csirtd_prereqs "$@" )
    return $?
fi
