#!/bin/bash
# One boot of the power-cut chain (tests/it/vm_e2e.rs power_cuts_at_every_step_boundary_resume):
# the same command every boot, as a person would type it again after a power cut on the NixOS
# installer: the disk from cfg.toml, the default state directory /var/lib/blankroot on a fresh
# tmpfs (the installer's /var/lib is RAM: a power cut empties it), never --wipe. The host may
# cut power at any mark; when the install completes, check the result and close the disk.
# disk02 must never change. This boot's events go to out/events/<boot name>.jsonl on the share
# (every event blankroot wrote survives the cut there).
. /share/common.sh
boot=$(cat $S/boot-name)
[[ $boot =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad boot name: $boot"; exit 1; }
sha256_of "$(disk disk02)" >> "$OUT/disk02.sums"
mkdir -p /var/lib/blankroot "$OUT/events"
mount -t tmpfs -o mode=0755 tmpfs /var/lib/blankroot
# The host asks for a cut exactly at a step boundary by naming the step: blankroot then stops
# right after recording it (its test hook), and the host cuts on the step's done- mark.
BLANKROOT_TEST_PAUSE_AFTER=$(cat $S/pause-after 2>/dev/null || true)
export BLANKROOT_TEST_PAUSE_AFTER
rc=0
EVENTS=$OUT/events/$boot.jsonl install_marked --config $S/cfg.toml --yes --passphrase-file /tmp/passphrase \
    --until config || rc=$?
echo "$boot $rc" >> "$OUT/resume-rcs.txt"
[ "$rc" = 0 ] || exit "$rc"
zfs list -H -o name -r rpool > "$OUT/final-datasets.txt"
zfs list -H -t snapshot -o name > "$OUT/final-snapshots.txt"
ls /mnt/etc/nixos > "$OUT/final-etc-nixos.txt"
umount -R /mnt
zpool export rpool
cryptsetup close cryptroot
sha256_of "$(disk disk02)" >> "$OUT/disk02.sums"
mark complete
