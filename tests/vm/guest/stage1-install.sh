#!/bin/bash
# Stage-1 tier, boot 1 (the kit, UEFI): every phase of `blankroot install` with stand-ins for
# nixos-generate-config, nixos-install and nixos-version on PATH (blankroot itself runs the real
# unmount, pool export and LUKS close); then the base of the stage-1 initrd from this guest's
# own systemd (stage1-initrd.sh), and a canary plus kept files for the first stage-1 boot.
. /share/common.sh
D=$(disk disk01)
for t in nixos-install nixos-generate-config nixos-version; do
  install -m 0755 "$S/standin-$t" "/usr/local/bin/$t"
done
install -m 0755 "$B" /usr/local/bin/blankroot
blankroot plan --config $S/cfg.toml --format json -o $S/plan.json
install_marked --plan $S/plan.json --yes --passphrase-file /tmp/passphrase --state-dir $S/state
mark installed
# What install left: nothing mounted under /mnt, the pool exported, LUKS closed.
{ findmnt -rn -o TARGET | grep -c '^/mnt' || true; } > "$OUT/mnt-mounts.txt"
{ zpool list -H -o name 2>/dev/null || true; } > "$OUT/pools-after.txt"
if cryptsetup status cryptroot >/dev/null 2>&1; then echo open; else echo closed; fi > "$OUT/luks-after.txt"
# As the first boot will: under networking.hostId, the pool imports without -f.
rm -f /etc/hostid
zgenhostid -f "$(jq -r .ids.host_id $S/plan.json)"
cryptsetup open --key-file /tmp/passphrase "$D-part2" cryptroot
zpool import -d /dev/disk/by-id 2>&1 | sed -n 's/^ *state: //p' > "$OUT/import-state.txt"
zpool import -N -d /dev/disk/by-id rpool
mount -t zfs rpool/local/root /mnt
mkdir -p /mnt/persist /mnt/home /mnt/nix
mount -t zfs rpool/safe/persist /mnt/persist
mount -t zfs rpool/safe/home /mnt/home
mount -t zfs rpool/local/nix /mnt/nix
cp -r /mnt/persist/etc/nixos "$OUT/etc-nixos"
ls -la /mnt/nix/var/nix/profiles/ > "$OUT/profiles.txt"
echo canary-0 > /mnt/rollback-canary
mkdir -p /mnt/var/lib/junk && echo junk > /mnt/var/lib/junk/file
echo keep > /mnt/persist/keep.txt
echo home > /mnt/home/keep.txt
echo log-kept > /mnt/persist/var/log/kept.log
umount -R /mnt
zpool export rpool
cryptsetup close cryptroot
mark canary-written
# The host caches the base per kit and script (tests/it/vm_stage1.rs); build it only when missing.
[ -s $S/stage1-base.cpio ] || bash $S/stage1-initrd.sh $S/stage1-base.cpio
