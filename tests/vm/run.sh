#!/usr/bin/env bash
# Boots the blankroot test VM kit (tests/vm/kit.sh) under QEMU/TCG, runs DIR/test.sh in the
# guest as root, and exits with its status. See docs/vm-kit.md.
#
#   tests/vm/run.sh --share DIR [--disk FILE[:SERIAL]]... [--timeout SECONDS] [--log FILE]
#                   [--kill-on-mark NAME] [--kill-after-mark NAME:SECONDS] [--follow]
#                   [--uefi] [--append KERNEL-ARGS] [--mem MIB] [--smp N] [--qemu-arg ARG]...
#                   [--boot-timeout SECONDS] [--initrd FILE --cmdline ARGS] [--console-socket PATH]
#
# Exit status: the guest's (from "BLANKROOT-VM-RESULT rc=N"); 124 when --timeout expired;
# 125 when QEMU ended without a result (guest init failed, kernel panic, QEMU error);
# 126 when the guest never reached its init within --boot-timeout (a stuck boot: retry);
# 137 when QEMU was killed on purpose by --kill-on-mark/--kill-after-mark; 2 on bad usage.
# The kit: $BLANKROOT_VM_KIT if set, else what kit.sh prints (building it if needed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ME=vm

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  cat >&2 <<'EOF'
Options:
  --share DIR            host folder mounted read-write at /share in the guest; must hold test.sh
  --disk FILE[:SERIAL]   a raw disk image (made with truncate), attached as virtio-blk with
                         cache=unsafe,discard=unmap; SERIAL gives /dev/disk/by-id/virtio-SERIAL
                         ("FILE:" or "FILE" alone: no serial). Repeatable; order = vdb, vdc, ...
  --timeout SECONDS      stop QEMU after this long (TERM, then KILL 10 s later); exit 124
                         (default 1200)
  --log FILE             the serial console log (default: a new /tmp/blankroot-vm.*.log)
  --kill-on-mark NAME    power cut (SIGKILL to QEMU) as soon as the log shows
                         "BLANKROOT-VM-MARK NAME"; exit 137
  --kill-after-mark NAME:SECONDS
                         power cut SECONDS (decimals allowed) after that mark; exit 137
  --follow               copy the console to stdout while the guest runs
  --uefi                 boot through OVMF (UEFI firmware; about 10 s slower)
  --append ARGS          extra kernel command line arguments ("loglevel=7": kernel boot messages)
  --mem MIB, --smp N     guest memory (2048) and vCPUs (2)
  --qemu-arg ARG         one more QEMU argument (repeatable)
  --boot-timeout SECONDS stop QEMU when the guest's init has not started by then; exit 126
                         (default 180; a TCG boot reaches it in 3-15 s)
  --initrd FILE          boot this initrd instead of the kit's (the stage-1 tier's systemd
                         initrd); needs --cmdline
  --cmdline ARGS         the whole kernel command line instead of the kit's root=/init=
                         (console=ttyS0 and panic=1 are added; --append still appends)
  --kill-on-text TEXT    power cut as soon as the log shows TEXT (a fixed string), e.g. a boot
                         that went to emergency mode; exit 137
  --console-socket PATH  the serial console is also a unix socket at PATH (QEMU waits for a
                         client before it starts the guest): a test connects to type on the
                         console (a LUKS passphrase); the log gets everything as before
EOF
  exit 2
}
die() { echo "$ME: error: $*" >&2; exit 2; }

INITRD="" CMDLINE="" CONSOLE_SOCKET="" KILL_TEXT=""
SHARE="" LOG="" TIMEOUT=1200 KILL_ON="" KILL_AFTER="" FOLLOW=0 UEFI=0 APPEND="" MEM=2048 SMP=2 BOOT_TIMEOUT=180
DISKS=() EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --share) SHARE=${2:?}; shift 2 ;;
    --disk) DISKS+=("${2:?}"); shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --log) LOG=${2:?}; shift 2 ;;
    --kill-on-mark) KILL_ON=${2:?}; shift 2 ;;
    --kill-after-mark) KILL_AFTER=${2:?}; shift 2 ;;
    --follow) FOLLOW=1; shift ;;
    --uefi) UEFI=1; shift ;;
    --append) APPEND=${2:?}; shift 2 ;;
    --mem) MEM=${2:?}; shift 2 ;;
    --smp) SMP=${2:?}; shift 2 ;;
    --qemu-arg) EXTRA+=("${2:?}"); shift 2 ;;
    --boot-timeout) BOOT_TIMEOUT=${2:?}; shift 2 ;;
    --initrd) INITRD=${2:?}; shift 2 ;;
    --cmdline) CMDLINE=${2:?}; shift 2 ;;
    --console-socket) CONSOLE_SOCKET=${2:?}; shift 2 ;;
    --kill-on-text) KILL_TEXT=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "$ME: unknown argument: $1" >&2; usage ;;
  esac
done

[ -n "$SHARE" ] || die "--share DIR is required"
[ -d "$SHARE" ] || die "--share $SHARE: not a directory"
[ -f "$SHARE/test.sh" ] || die "--share $SHARE: no test.sh in it"
SHARE=$(realpath "$SHARE")
[[ $TIMEOUT =~ ^[0-9]+$ ]] && [ "$TIMEOUT" -gt 0 ] || die "--timeout wants whole seconds > 0"
[[ $MEM =~ ^[0-9]+$ && $SMP =~ ^[0-9]+$ && $BOOT_TIMEOUT =~ ^[0-9]+$ ]] || die "--mem, --smp and --boot-timeout want numbers"
MARK_NAME_RE='^[A-Za-z0-9._-]+$'
[ -z "$KILL_ON" ] || [[ $KILL_ON =~ $MARK_NAME_RE ]] || die "--kill-on-mark: a mark name is [A-Za-z0-9._-]+"
KA_NAME="" KA_USEC=0
if [ -n "$KILL_AFTER" ]; then
  KA_NAME=${KILL_AFTER%:*}
  ka_secs=${KILL_AFTER##*:}
  [[ $KILL_AFTER == *:* && $KA_NAME =~ $MARK_NAME_RE && $ka_secs =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
    die "--kill-after-mark wants NAME:SECONDS"
  KA_USEC=$(awk -v s="$ka_secs" 'BEGIN { printf "%d", s * 1000000 }')
fi

KIT=${BLANKROOT_VM_KIT:-}
if [ -z "$KIT" ]; then
  KIT=$("$HERE/kit.sh" | tail -n 1)
fi
[ -f "$KIT/kit.env" ] && [ -f "$KIT/complete" ] || die "$KIT is not a complete kit (see kit.sh)"
# shellcheck source=/dev/null
. "$KIT/kit.env"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (kit.sh installs it)"

if [ -z "$LOG" ]; then
  LOG=$(mktemp /tmp/blankroot-vm.XXXXXX.log)
fi
[[ $LOG != *,* ]] || die "--log: no commas in the path, please"
mkdir -p "$(dirname "$LOG")"
: >"$LOG"
LOG=$(realpath "$LOG")

qesc() { printf '%s' "${1//,/,,}"; }   # QEMU option values escape "," as ",,"

[ -z "$INITRD" ] || [ -f "$INITRD" ] || die "--initrd $INITRD: no such file"
[ -z "$INITRD" ] || [ -n "$CMDLINE" ] || die "--initrd needs --cmdline"
if [ -n "$INITRD" ]; then
  BOOT=(-initrd "$INITRD" -append "console=ttyS0 panic=1 $CMDLINE $APPEND")
else
  BOOT=(-initrd "$KIT/initrd.img" -append "root=LABEL=$KIT_LABEL rw console=ttyS0 init=$KIT_INIT panic=1 quiet $APPEND")
fi
if [ -n "$CONSOLE_SOCKET" ]; then
  [[ $CONSOLE_SOCKET != *,* ]] || die "--console-socket: no commas in the path, please"
  SERIAL=(-chardev "socket,id=con0,path=$CONSOLE_SOCKET,server=on,wait=on,logfile=$LOG" -serial chardev:con0)
else
  SERIAL=(-serial "file:$LOG")
fi
Q=(qemu-system-x86_64 -name blankroot-vm -machine q35 -accel tcg -cpu max -smp "$SMP" -m "$MEM"
  -display none -no-reboot -nic none -monitor none "${SERIAL[@]}"
  -kernel "$KIT/vmlinuz" "${BOOT[@]}"
  -drive "file=$(qesc "$KIT/rootfs.img"),format=raw,if=none,id=kit,snapshot=on"
  -device virtio-blk-pci,drive=kit
  -device virtio-rng-pci
  -virtfs "local,path=$(qesc "$SHARE"),mount_tag=share,security_model=none,id=share")
if [ "$UEFI" = 1 ]; then
  [ -f /usr/share/ovmf/OVMF.fd ] || die "--uefi needs /usr/share/ovmf/OVMF.fd (apt-get install ovmf)"
  Q+=(-bios /usr/share/ovmf/OVMF.fd)
fi
i=0
for d in "${DISKS[@]}"; do
  i=$((i + 1))
  if [[ $d == *:* ]]; then path=${d%:*} serial=${d##*:}; else path=$d serial=""; fi
  [ -f "$path" ] || [ -b "$path" ] || die "--disk $d: $path is not a file or block device"
  [[ $serial =~ ^[A-Za-z0-9._-]{0,20}$ ]] || die "--disk $d: a serial is at most 20 of [A-Za-z0-9._-]"
  Q+=(-drive "file=$(qesc "$(realpath "$path")"),format=raw,if=none,id=disk$i,cache=unsafe,discard=unmap"
    -device "virtio-blk-pci,drive=disk$i${serial:+,serial=$serial}")
done
Q+=("${EXTRA[@]}")

TMP=$(mktemp -d /tmp/blankroot-vm-run.XXXXXX)
PIDFILE=$TMP/qemu.pid
STATE=$TMP/killed
Q+=(-pidfile "$PIDFILE")
TPID="" WPID="" FPID="" BPID=""

qemu_pid() { # prints QEMU's pid if it is still our QEMU
  local p
  p=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$p" ] && grep -q '^qemu-system' "/proc/$p/comm" 2>/dev/null && echo "$p"
}
cleanup() {
  local p
  if p=$(qemu_pid); then kill -KILL "$p" 2>/dev/null || true; fi
  [ -z "$WPID" ] || kill "$WPID" 2>/dev/null || true
  [ -z "$BPID" ] || kill "$BPID" 2>/dev/null || true
  [ -z "$FPID" ] || kill "$FPID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
exec 3>&2   # the traps may run while stderr is redirected (see wait below)
trap 'echo "$ME: interrupted; QEMU stopped" >&3; exit 130' INT
trap 'echo "$ME: terminated; QEMU stopped" >&3; exit 143' TERM

CR=$'\r'
has_mark() { grep -aqE "BLANKROOT-VM-MARK ${1//./\\.}([ $CR]|\$)" "$LOG"; }
usec() { echo "${EPOCHREALTIME/./}"; }
power_cut() { # power_cut WHY
  local p
  p=$(qemu_pid) || return 0
  echo "$1" >"$STATE"
  kill -KILL "$p" 2>/dev/null || true
}
watcher() {
  local seen=""
  while :; do
    if [ -n "$KILL_ON" ] && has_mark "$KILL_ON"; then
      power_cut "at mark $KILL_ON"; return 0
    fi
    if [ -n "$KILL_TEXT" ] && grep -aqF -- "$KILL_TEXT" "$LOG"; then
      power_cut "at text \"$KILL_TEXT\""; return 0
    fi
    if [ -n "$KA_NAME" ]; then
      if [ -z "$seen" ] && has_mark "$KA_NAME"; then seen=$(usec); fi
      if [ -n "$seen" ] && [ $(($(usec) - seen)) -ge "$KA_USEC" ]; then
        power_cut "${KILL_AFTER#*:} s after mark $KA_NAME"; return 0
      fi
    fi
    sleep 0.05
  done
}

# Seen here once: a TCG guest that printed nothing at all and never reached init, while QEMU
# spun. Such a boot is stopped early (exit 126) so that a caller can retry it.
boot_watcher() {
  local until=$(($(usec) + BOOT_TIMEOUT * 1000000))
  while [ "$(usec)" -lt "$until" ]; do
    has_mark init && return 0
    sleep 0.5
  done
  has_mark init || power_cut "stuck: no init mark in $BOOT_TIMEOUT s"
}

echo "$ME: kit $KIT_HASH (kernel $KIT_KVER, zfs $KIT_ZFS); ${#DISKS[@]} disk(s); log: $LOG" >&2
T0=$(usec)
timeout --kill-after=10 "$TIMEOUT" "${Q[@]}" &
TPID=$!
if [ -n "$KILL_ON$KA_NAME$KILL_TEXT" ]; then watcher & WPID=$!; fi
boot_watcher & BPID=$!
if [ "$FOLLOW" = 1 ]; then
  tail -c +1 -s 0.2 -f --pid="$TPID" "$LOG" | tr -d '\r' &
  FPID=$!
fi
qrc=0
{ wait "$TPID"; } 2>/dev/null || qrc=$?   # (no "Killed" job notice from bash)
if [ -n "$WPID" ]; then kill "$WPID" 2>/dev/null || true; wait "$WPID" 2>/dev/null || true; WPID=""; fi
kill "$BPID" 2>/dev/null || true; wait "$BPID" 2>/dev/null || true; BPID=""
if [ -n "$FPID" ]; then wait "$FPID" 2>/dev/null || true; FPID=""; fi
WALL=$(awk -v a="$T0" -v b="$(usec)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')

field() { grep -a -o "$1" "$LOG" | tail -n 1 | tr -d '\r' | cut -d= -f2 || true; }
READY=$(field 'BLANKROOT-VM-MARK ready t=[0-9.]*')
DONE=$(field 'BLANKROOT-VM-MARK done t=[0-9.]*')
RESULT=$(field 'BLANKROOT-VM-RESULT rc=[0-9]*')
timing="wall ${WALL} s${READY:+, guest ready at ${READY} s uptime}${DONE:+, test.sh ran $(awk -v a="$READY" -v b="$DONE" 'BEGIN { printf "%.1f", b - a }') s}"

if grep -q '^stuck:' "$STATE" 2>/dev/null; then
  echo "$ME: the guest never reached init ($(cat "$STATE")): exit 126; $timing; log: $LOG" >&2
  exit 126
fi
if [ -s "$STATE" ]; then
  echo "$ME: killed QEMU on purpose ($(cat "$STATE")): exit 137; $timing; log: $LOG" >&2
  exit 137
fi
# timeout(1) says 124 after its TERM, 137 if QEMU needed the KILL 10 s later.
if [ "$qrc" = 124 ] || { [ "$qrc" = 137 ] && [ "$(usec)" -ge $((T0 + TIMEOUT * 1000000)) ]; }; then
  echo "$ME: TIMEOUT after $TIMEOUT s: exit 124; $timing; log: $LOG; its end:" >&2
  tail -n 25 "$LOG" | tr -d '\r' >&2
  exit 124
fi
[ -z "$KILL_ON$KA_NAME$KILL_TEXT" ] || echo "$ME: note: the mark or text ${KILL_ON:-${KA_NAME:-$KILL_TEXT}} never appeared; no power cut" >&2
if [ -n "$RESULT" ]; then
  echo "$ME: test.sh exited $RESULT; $timing; log: $LOG" >&2
  exit "$RESULT"
fi
echo "$ME: no result from the guest (QEMU exit $qrc): exit 125; $timing; log: $LOG" >&2
grep -a -m 5 -E 'BLANKROOT-VM-INIT-FAILED|Kernel panic|QEMU|qemu' "$LOG" | tr -d '\r' >&2 || true
echo "$ME: the end of the log:" >&2
tail -n 25 "$LOG" | tr -d '\r' >&2
exit 125
