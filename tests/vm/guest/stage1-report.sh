#!/bin/bash
# Stage-1 tier, every boot through the systemd initrd (tests/it/vm_stage1.rs). Runs after the
# switch-root, in the kit's tools (stage1-system-init.sh chroots into the kit disk), with the
# installed system at /installed exactly as stage 1 left it and this boot's /run (the initrd's
# journal in /run/log/journal). Records the evidence in out/<case>/, then prepares the disk for
# the next boot as /share/next says.
. /share/common.sh
C=$(cat $S/case)
O=$OUT/$C
I=/installed
mkdir -p "$O"
cp /run/blankroot-test/*.txt "$O/"
journalctl -D /run/log/journal -o json --no-pager > "$O/journal.json"
journalctl -D /run/log/journal -o short-monotonic --no-pager > "$O/journal.txt" || true
# Evidence never stops the script: the host asserts on what each file holds (a broken boot,
# like the counterfactual one, must still be described).
cat $I/persist/keep.txt > "$O/persist-keep.txt" 2>&1 || true
mkdir -p /tmp/home
if mount -t zfs rpool/safe/home /tmp/home; then
  cat /tmp/home/keep.txt > "$O/home-keep.txt" 2>&1 || true
  umount /tmp/home
fi
ls -A $I/etc/nixos > "$O/etc-nixos.txt" 2>&1 || true
cat $I/var/log/kept.log > "$O/var-log-kept.txt" 2>&1 || true
if [ -e /run/blankroot/rollback-failed ]; then cp /run/blankroot/rollback-failed "$O/rollback-failed.txt"; fi
zfs list -H -t snapshot -o name > "$O/snapshots.txt"
zfs list -H -o name -r rpool > "$O/datasets.txt"
"$B" doctor --root $I --format json > "$O/doctor.json" 2> "$O/doctor.err" && echo 0 > "$O/doctor.rc" || echo $? > "$O/doctor.rc"
# The next boot's starting point.
next=$(cat $S/next 2>/dev/null || true)
case "$next" in
  destroy-blank) zfs destroy rpool/local/root@blank ;;
  fix) bash -euo pipefail $S/fix.sh > "$O/fix.out" 2>&1 ;;
  files=*)
    n=${next#files=}
    mkdir -p $I/var/lib/bench
    t0=$(date +%s.%N)
    (cd $I/var/lib/bench && seq 1 "$n" | xargs touch)
    echo "$n files written in $(awk -v a=$t0 -v b=$(date +%s.%N) 'BEGIN { printf "%.1f", b - a }') s" > "$O/files.txt"
    ;;
  "") ;;
  *) echo "unknown next action: $next" >&2; exit 1 ;;
esac
for cmd in $(cat $S/after 2>/dev/null || true); do
  case "$cmd" in
    destroy-old) zfs destroy -r rpool/local/root.old ;;
  esac
done
echo "canary-$C" > $I/rollback-canary
mkdir -p $I/var/lib/junk && echo "junk-$C" > $I/var/lib/junk/file
sync
