#!/bin/bash
# Living with the rollback, boot 2 (and 3): as stage 1 would, open LUKS, import, roll back
# (unless /share/no-rollback exists: boot 3 shows verify-rollback fail), mount the datasets
# and bind every persisted directory of the new blankroot.toml (the host lists them in
# /share/binds.txt); then check what survived. Results in out/life/<boot>/.
. /share/common.sh
boot=$(cat $S/boot-name)
O=$OUT/life/$boot
mkdir -p "$O"
rm -f /etc/hostid
zgenhostid -f "$(cat $S/hostid)"
cryptsetup open --key-file /tmp/passphrase "$(disk disk01)-part2" cryptroot
zpool import -N -d /dev/disk/by-id rpool
[ -e $S/no-rollback ] || sh $S/rollback-command.sh
mount -t zfs rpool/local/root /mnt
mkdir -p /mnt/persist /mnt/nix /mnt/home
mount -t zfs rpool/safe/persist /mnt/persist
mount -t zfs rpool/local/nix /mnt/nix
mount -t zfs rpool/safe/home /mnt/home
while read -r d; do mkdir -p "/mnt$d"; mount --bind "/mnt/persist$d" "/mnt$d"; done < $S/binds.txt
ls -A /mnt > "$O/root-top.txt"
[ -e /mnt/etc/rollback-canary ] && echo present > "$O/canary.txt" || echo gone > "$O/canary.txt"
[ -e /mnt/root/.cache ] && echo present > "$O/cache.txt" || echo gone > "$O/cache.txt"
cat /mnt/var/lib/foo/state.db > "$O/foo-state.txt" 2>&1 || true
cd /mnt/var/lib/foo && { stat -c '%n %a %u %g %y' state.db sub sub/key; getfacl -cpn state.db; getfattr -d state.db; } > "$O/foo-meta.txt" 2>&1; cd /
set +e
"$B" verify-rollback --root /mnt check > "$O/check.txt" 2>&1
echo $? > "$O/check.rc"
"$B" diff --root /mnt --format json > "$O/diff.json" 2> "$O/diff.err"
[ -e $S/arm-again ] && "$B" verify-rollback --root /mnt arm > "$O/arm.txt" 2>&1
set -e
umount -R /mnt
zpool export rpool
cryptsetup close cryptroot
