#!/bin/bash
# Sourced by every guest scenario, under bash (the share's test.sh, tests/it/common/vm.rs, is
# `#!/bin/bash` + `set -euo pipefail`). /share is the host's folder: blankroot binary, config,
# plan, and out/ for what the host checks. Secrets here are test-only values.
# A test.sh run by sh (one without the #! line, as tests/fixtures/zdiff/capture.sh and
# scripts/demo write it) starts again under bash.
if [ -z "${BASH_VERSION:-}" ]; then
    case $0 in /*) exec bash "$0" "$@" ;; esac
    echo "tests/vm/guest: run the scenarios under bash" >&2
    exit 1
fi
set -euo pipefail
shopt -s inherit_errexit # and in $(…) too
S=/share
B=$S/blankroot
OUT=$S/out
mkdir -p "$OUT"
mark() { echo "BLANKROOT-VM-MARK $1"; }
disk() { echo "/dev/disk/by-id/virtio-$1"; }

# A sha256 digest is exactly 64 lower-case hex characters; anything else (empty, an error
# message) fails the scenario before it can be compared with another.
is_digest() { [[ $1 =~ ^[0-9a-f]{64}$ ]]; }
# Prints the sha256 of a file or device; fails unless sha256sum printed a digest.
sha256_of() {
    local d
    d=$(sha256sum "$1" | cut -d' ' -f1)
    is_digest "$d" || { echo "sha256_of $1: not a digest: '$d'" >&2; return 1; }
    echo "$d"
}

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
            # (tens of ms under TCG) to see even a short-lived cryptsetup. grep exits 1 when
            # nothing matches and 2 for a process that vanished mid-sweep: both are normal.
            { grep -a -l -F -f /tmp/secrets /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null || true; } |
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

# Stand-ins on PATH for every tool the plan hands a secret (a command or check with a secret on
# stdin; `install` writes the files whose content is a password hash, src/commands/install/exec.rs):
# each appends one record per call, its argv and its environment as it received them, to
# /tmp/standins.log (or $BLANKROOT_STANDIN_LOG), then execs the real tool with the same
# stdin. Usage: secret_standins PLAN; then run the install with PATH=/tmp/standins:$PATH.
# The tools wrapped are listed in out/standins.txt.
secret_standins() {
    local tool real
    mkdir -p /tmp/standins
    jq -r '.steps[] | ((.commands + .check + (.revert // []) + (.resume // []))[]
            | select(.stdin.secret? != null) | .argv[0]),
          (.files[] | select(.content.hash? != null) | "install")' "$1" | sort -u > "$OUT/standins.txt"
    [ -s "$OUT/standins.txt" ] || { echo "secret_standins: the plan hands no tool a secret?" >&2; return 1; }
    while read -r tool; do
        real=$(command -v "$tool")
        cat > "/tmp/standins/$tool" <<EOF
#!/bin/bash
# Stand-in for $tool (tests/vm/guest/common.sh secret_standins): record, then run the real one.
printf -v argv ' %s' "\$@"
rec="--- $tool pid=\$\$"\$'\\n'"argv:\$argv"\$'\\n'
while IFS= read -r -d '' e; do rec+="env: \$e"\$'\\n'; done < /proc/\$\$/environ
printf '%s' "\$rec" >> "\${BLANKROOT_STANDIN_LOG:-/tmp/standins.log}"
exec $real "\$@"
EOF
        chmod 0755 "/tmp/standins/$tool"
    done < "$OUT/standins.txt"
    : > /tmp/standins.log
    # Self-test: a secret in a stand-in's environment lands in its record.
    BLANKROOT_STANDIN_LOG=/tmp/standin-selftest.log STANDIN_SELFTEST="$(cat /tmp/passphrase)" \
        "/tmp/standins/$(head -n 1 "$OUT/standins.txt")" --version > /dev/null
    if grep -qF -f /tmp/secrets /tmp/standin-selftest.log; then echo seen; else echo MISSED; fi > "$OUT/standin-selftest.txt"
}

# Turns blankroot's JSON events (stdin) into console marks the host can cut power on:
# start-<id> and done-<id> result=<result>. Mark names are [A-Za-z0-9._-]: step ids like
# mount:/boot become mount__boot (tests/it/common/vm.rs mark_name). Bash builtins only (no
# process per event, each costly under TCG), so the marks follow blankroot's events closely.
mark_events() {
    local line id
    while IFS= read -r line; do
        [[ $line =~ \"id\":\"([^\"]*)\" ]] || continue
        id=${BASH_REMATCH[1]//[^A-Za-z0-9._-]/_}
        if [[ $line =~ \"event\":\"start\" ]]; then
            mark "start-$id"
        elif [[ $line =~ \"event\":\"step\" ]] && [[ $line =~ \"result\":\"([a-z]*)\" ]]; then
            mark "done-$id result=${BASH_REMATCH[1]}"
        fi
    done
}

# Runs `blankroot install …` with JSON progress, turning each event into a console mark.
# blankroot writes its events straight to a file ($EVENTS, default /tmp/events; a reader that
# dies must not cut its output short); resume.sh puts it on the share, where every event
# blankroot wrote survives a power cut. When blankroot returns, the mark exited-<rc>: its
# absence in a cut boot's log proves blankroot was still running. Appends the events to
# out/install.jsonl, stderr to out/install.stderr, the status to out/install.rc.
install_marked() {
    local events=${EVENTS:-/tmp/events} rc=0 bpid marker err0
    : > "$events"
    err0=$(stat -c %s "$OUT/install.stderr" 2>/dev/null || echo 0)
    "$B" install "$@" --format json >> "$events" 2>> "$OUT/install.stderr" &
    bpid=$!
    # tail ends by itself once blankroot has exited and it has read the file to its end.
    tail -s 0.05 --pid="$bpid" -n +1 -f "$events" 2> /dev/null | mark_events &
    marker=$!
    wait "$bpid" || rc=$?
    mark "exited-$rc"
    wait "$marker" || true
    cat "$events" >> "$OUT/install.jsonl"
    echo "$rc" > "$OUT/install.rc"
    if [ "$rc" != 0 ]; then
        echo "blankroot install exited $rc:"
        tail -c +$((err0 + 1)) "$OUT/install.stderr"
    fi
    return "$rc"
}

# Prints the host's digest of the test disk's whole image as it is now (the host test answers
# out/digest-req/NAME with out/digest/NAME; tests/it/common/vm.rs answer_digest_requests). The
# guest syncs first, so what it wrote has reached the image. Fails unless the answer is a
# digest.
host_digest() {
    local i=0 d
    sync
    mkdir -p "$OUT/digest-req"
    : > "$OUT/digest-req/$1"
    until [ -s "$OUT/digest/$1" ]; do
        i=$((i + 1))
        [ "$i" -le 1200 ] || { echo "no digest from the host for $1" >&2; return 1; }
        sleep 0.1
    done
    d=$(cat "$OUT/digest/$1")
    is_digest "$d" || { echo "host_digest $1: not a digest: '$d'" >&2; return 1; }
    echo "$d"
}
