# Sourced by every guest scenario. /share is the host's folder: blankroot binary, config,
# plan, and out/ for what the host checks. Secrets here are test-only values.
set -eu
S=/share
B=$S/blankroot
OUT=$S/out
mkdir -p "$OUT"
mark() { echo "BLANKROOT-VM-MARK $1"; }
# Mark names are [A-Za-z0-9._-]: step ids like mount:/boot become mount__boot.
san() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }
disk() { echo "/dev/disk/by-id/virtio-$1"; }

# Test secrets: written to 0600 files, never passed on a command line.
umask 077
printf '%s' 'vm-test-passphrase-Zq81' > /tmp/passphrase
printf '%s\n' 'admin-pw-Xk27' > /tmp/admin.pw
{ echo 'vm-test-passphrase-Zq81'; echo 'admin-pw-Xk27'; } > /tmp/secrets
umask 022

# Watches every process's argv and environment for a secret while install runs.
start_leak_scan() {
    : > "$OUT/leaks.txt"
    : > "$OUT/scans.txt"
    (
        while [ ! -e /tmp/stop-scan ]; do
            # One grep per sweep over every process's argv and environment: fast enough
            # (tens of ms under TCG) to see even a short-lived cryptsetup.
            grep -a -l -F -f /tmp/secrets /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null |
                while read -r f; do
                    echo "$f: $(tr '\0' ' ' < "${f%/*}/cmdline" 2>/dev/null)" >> "$OUT/leaks.txt"
                done
            echo x >> "$OUT/scans.txt"
        done
    ) &
    # Self-test: a process that does carry the passphrase on its argv must be seen.
    sh -c 'sleep 2' "$(cat /tmp/passphrase)" &
    i=0
    while [ ! -s "$OUT/leaks.txt" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    wait $!
    if [ -s "$OUT/leaks.txt" ]; then echo seen > "$OUT/leak-selftest.txt"; else echo MISSED > "$OUT/leak-selftest.txt"; fi
    # A sweep that saw the self-test's process may still be writing: wait until one sweep has
    # started and ended after that process was gone, then start the record afresh.
    n=$(wc -l < "$OUT/scans.txt")
    until [ "$(wc -l < "$OUT/scans.txt")" -ge $((n + 2)) ]; do sleep 0.05; done
    : > "$OUT/leaks.txt"
}
stop_leak_scan() { touch /tmp/stop-scan; wait; }

# Runs `blankroot install …` with JSON progress, turning each event into a console mark
# (start-<id>, done-<id>, id sanitised by san) the host can cut power on. The events go to a
# local file first (a reader that dies must not cut blankroot's output short), and the exit
# status is taken from blankroot itself, not from the pipeline.
install_marked() {
    : > /tmp/events
    ( tail -n +1 -f /tmp/events 2>/dev/null | while IFS= read -r line; do
        ev=$(echo "$line" | sed -n 's/^{"event":"\([a-z]*\)".*/\1/p')
        id=$(echo "$line" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
        case "$ev" in
            start) mark "start-$(san "$id")" ;;
            step) mark "done-$(san "$id")" ;;
        esac
      done ) &
    marker=$!
    set +e
    "$B" install "$@" --format json >> /tmp/events 2>> "$OUT/install.stderr"
    rc=$?
    set -e
    sleep 1 # let the marker print the last events
    kill "$marker" 2>/dev/null || true
    pkill -f 'tail -n \+1 -f /tmp/events' 2>/dev/null || true
    cat /tmp/events >> "$OUT/install.jsonl"
    echo "$rc" > "$OUT/install.rc"
    if [ "$rc" != 0 ]; then
        echo "blankroot install exited $rc:"
        cat "$OUT/install.stderr"
    fi
    return "$rc"
}

# Prints the host's digest of the test disk's whole image as it is now (the host test answers
# out/digest-req/NAME with out/digest/NAME; tests/common/vm.rs answer_digest_requests). The
# guest syncs first, so what it wrote has reached the image.
host_digest() {
    sync
    mkdir -p "$OUT/digest-req"
    : > "$OUT/digest-req/$1"
    i=0
    until [ -s "$OUT/digest/$1" ]; do
        i=$((i + 1))
        [ "$i" -le 1200 ] || { echo "no digest from the host for $1" >&2; return 1; }
        sleep 0.1
    done
    cat "$OUT/digest/$1"
}
