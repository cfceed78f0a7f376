#!/bin/bash
# Boot 1: plan and install the seed's layout onto disk01 (stopping before nixos-install), then
# read everything back for the host, write a canary into root and files into /persist and
# /home, and close the disk.
. /share/common.sh
D=$(disk disk01)
sha256_of "$(disk disk02)" > "$OUT/disk02.before"
"$B" plan --config $S/cfg.toml --format json -o $S/plan.json
# As on the NixOS installer: /etc/hostid is a symlink into a read-only store, which
# zgenhostid's fopen follows (and fails on); blankroot must replace the link.
mkdir -p /tmp/ro-store
printf '\001\002\003\004' > /tmp/ro-store/hostid
mount --bind /tmp/ro-store /tmp/ro-store
mount -o remount,bind,ro /tmp/ro-store
ln -sfn /tmp/ro-store/hostid /etc/hostid
if zgenhostid -f 0a0b0c0d 2> "$OUT/zgenhostid-on-link.err"; then echo wrote; else echo refused; fi > "$OUT/zgenhostid-on-link.txt"
# Two watches for a secret on an argv or environment: stand-ins on PATH for the tools that are
# handed one log every call (argv and environment as received), and a scan of every process.
secret_standins $S/plan.json
start_leak_scan
PATH=/tmp/standins:$PATH install_marked --plan $S/plan.json --yes --passphrase-file /tmp/passphrase --until config \
    --state-dir $S/state
stop_leak_scan
cp /tmp/standins.log "$OUT/standins.log"
mark installed
sfdisk --json "$D" > "$OUT/sfdisk.json"
blkid -p -o export "$D-part1" > "$OUT/esp.blkid"
cryptsetup luksDump "$D-part2" > "$OUT/luksdump.txt"
zpool get -Hp all rpool > "$OUT/zpool-get.txt"
zfs get -Hp -r all rpool > "$OUT/zfs-get.txt"
zfs list -H -t snapshot -o name > "$OUT/snapshots.txt"
zfs get -Hp -o value written rpool/local/root@blank > "$OUT/blank-written.txt"
zdb -C rpool | sed -n 's/^ *hostid: *//p' > "$OUT/pool-hostid.txt"
hostid > "$OUT/live-hostid.txt"
findmnt -rn -o TARGET,SOURCE,FSTYPE,OPTIONS | grep '^/mnt' > "$OUT/mounts.txt"
cp -r /mnt/etc/nixos "$OUT/etc-nixos"
cp -r /mnt/persist/etc/nixos "$OUT/persist-etc-nixos"
cp /mnt/persist/etc/machine-id "$OUT/machine-id"
stat -c '%a %U %G %n' /mnt/persist/etc/nixos-secrets /mnt/persist/etc/nixos-secrets/passwords \
    /mnt/persist/etc/nixos-secrets/passwords/* > "$OUT/modes.txt"
cp /mnt/persist/etc/nixos-secrets/passwords/admin "$OUT/admin.hash"
echo canary > /mnt/etc/rollback-canary
echo keep > /mnt/persist/keep.txt
echo home > /mnt/home/keep.txt
umount -R /mnt
zpool export rpool
cryptsetup close cryptroot
sha256_of "$(disk disk02)" > "$OUT/disk02.after"
