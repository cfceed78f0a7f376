#!/bin/bash
# Boot 2: as stage 1 would: open LUKS, import the pool from /dev/disk/by-id, run the rollback
# command the host extracted from the generated blankroot.nix, then mount and look.
. /share/common.sh
O=$OUT/boot2
mkdir -p "$O"
# Stage 1 has /etc/hostid from networking.hostId (the host test writes it to the share).
rm -f /etc/hostid
zgenhostid -f "$(cat $S/hostid)"
cryptsetup open --key-file /tmp/passphrase "$(disk disk01)-part2" cryptroot
zpool import -N -d /dev/disk/by-id rpool
sh $S/rollback-command.sh
mount -t zfs rpool/local/root /mnt
ls -A /mnt > "$O/root-after.txt"
mkdir -p /mnt/persist /mnt/home
mount -t zfs rpool/safe/persist /mnt/persist
mount -t zfs rpool/safe/home /mnt/home
cat /mnt/persist/keep.txt > "$O/persist-keep.txt"
cat /mnt/home/keep.txt > "$O/home-keep.txt"
ls /mnt/persist/etc/nixos > "$O/persist-etc-nixos.txt"
# blankroot itself, kept in /persist by the install (the static binary this boot's install ran):
# still there after the rollback, root's, 0755, the same bytes, and it runs.
kept=/mnt/persist/var/lib/blankroot/bin/blankroot
stat -c '%a %U %G' "$kept" > "$O/kept-mode.txt"
sha256_of "$kept" > "$O/kept.sha256"
"$kept" --version > "$O/kept-version.txt"
# The rest of what NixOS's stage 1 mounts (neededForBoot: the persisted binds), then doctor's
# installed-mode checks on the tree (no NixOS here: what needs nix-instantiate or a booted
# system is reported as such).
mkdir -p /mnt/nix /mnt/etc/nixos /mnt/var/lib/nixos /mnt/var/log
mount -t zfs rpool/local/nix /mnt/nix
for d in /etc/nixos /var/lib/nixos /var/log; do mount --bind "/mnt/persist$d" "/mnt$d"; done
set +e
"$B" doctor --root /mnt --format json > "$O/doctor-installed.json" 2> "$O/doctor-installed.err"
echo $? > "$O/doctor-installed.rc"
set -e
umount -R /mnt
zpool export rpool
cryptsetup close cryptroot
