#!/bin/bash
# A step fails half way: this live system cannot mount FAT (modprobe of vfat is made to fail,
# as on a system without the module), so `mount:/boot` fails after LUKS is open, the pool
# created and the root mounted. blankroot must undo what is active (unmount /mnt, export the
# pool, close LUKS), say what the disk holds, and give the command that resumes; after the
# cause is fixed, that exact command must finish the install.
. /share/common.sh
install -m 0755 "$B" /usr/local/bin/blankroot
echo 'install vfat /bin/false' > /etc/modprobe.d/blankroot-test-novfat.conf
if grep -qw vfat /proc/filesystems; then echo "vfat is already loaded; the fault cannot be staged"; exit 1; fi
blankroot plan --config $S/cfg.toml --format json -o $S/plan.json
set +e
blankroot install --plan $S/plan.json --yes --passphrase-file /tmp/passphrase --until config --state-dir /tmp/state \
    > "$OUT/undo-1.out" 2> "$OUT/undo-1.err"
echo $? > "$OUT/undo-1.rc"
set -e
# What is still active after the failure.
findmnt -rn -o TARGET | grep '^/mnt' > "$OUT/undo-mounts.txt" || true
if zpool list rpool > /dev/null 2>&1; then echo imported; else echo exported; fi > "$OUT/undo-pool.txt"
if cryptsetup status cryptroot > /dev/null 2>&1; then echo open; else echo closed; fi > "$OUT/undo-luks.txt"
cp /tmp/state/receipt.json "$OUT/undo-receipt.json"
mark failed-and-undone
# Fix the cause, then run exactly the command the error's hint gave.
rm /etc/modprobe.d/blankroot-test-novfat.conf
sed -n 's/^  hint: fix the cause, then resume (done steps are skipped): //p' "$OUT/undo-1.err" > "$OUT/undo-resume.txt"
[ -s "$OUT/undo-resume.txt" ] || { echo "no resume command in:"; cat "$OUT/undo-1.err"; exit 1; }
set +e
bash -c "$(cat "$OUT/undo-resume.txt")" > "$OUT/undo-2.out" 2> "$OUT/undo-2.err"
echo $? > "$OUT/undo-2.rc"
set -e
cp /tmp/state/receipt.json "$OUT/undo-receipt-2.json"
findmnt -rn -o TARGET,SOURCE | grep '^/mnt' > "$OUT/undo-mounts-2.txt" || true
zfs list -H -o name -r rpool > "$OUT/undo-datasets-2.txt" 2>&1 || true
ls /mnt/etc/nixos > "$OUT/undo-etc-nixos-2.txt" 2>&1 || true
