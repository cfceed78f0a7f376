#!/bin/bash
# Each busy or non-empty state of disk03 makes `blankroot install` refuse, naming what holds
# the disk, and leaves the disk byte-identical: the host digests the whole 6 GiB image before
# and after each attempt (host_digest: a 64-hex-digit sha256, or the scenario fails). Results
# in out/refuse-<case>.{rc,err,disk}.
. /share/common.sh
D=$(disk disk03)
P="$D-part1"
try() {
    name=$1
    shift
    udevadm settle
    before=$(host_digest "$name-before")
    set +e
    "$B" install --disk "$D" --yes --passphrase-file /tmp/passphrase --until config --state-dir "/tmp/state-$name" "$@" \
        > "$OUT/refuse-$name.out" 2> "$OUT/refuse-$name.err"
    echo $? > "$OUT/refuse-$name.rc"
    set -e
    after=$(host_digest "$name-after")
    if [ "$after" = "$before" ]; then echo same; else echo CHANGED; fi > "$OUT/refuse-$name.disk"
    mark "refused:$name"
}
# doctor's live checks run first: this guest booted with BIOS firmware and has no NixOS tools,
# so a whole install (no --until) is refused before anything is touched.
udevadm settle
before=$(host_digest doctor-before)
set +e
"$B" install --disk "$D" --yes --passphrase-file /tmp/passphrase --state-dir /tmp/state-doctor \
    > "$OUT/refuse-doctor.out" 2> "$OUT/refuse-doctor.err"
echo $? > "$OUT/refuse-doctor.rc"
set -e
after=$(host_digest doctor-after)
if [ "$after" = "$before" ]; then echo same; else echo CHANGED; fi > "$OUT/refuse-doctor.disk"

# A file system on the whole disk, no partition table.
mkfs.ext4 -q "$D"
try signature
wipefs -q -a "$D"

printf 'label: gpt\nsize=100MiB, type=linux\n' | sfdisk -q "$D"
udevadm settle
try partitions

mkfs.ext4 -q "$P"
mkdir -p /tmp/m
mount -o ro "$P" /tmp/m
try mounted --wipe
umount /tmp/m

mkswap -q "$P" > /dev/null
swapon "$P"
try swap --wipe
swapoff "$P"

cryptsetup luksFormat --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file /tmp/passphrase "$P"
cryptsetup open --key-file /tmp/passphrase "$P" busy
try mapping --wipe
cryptsetup close busy

wipefs -q -a "$P"
zpool create -f tpool "$P"
zpool export tpool
zpool import -o readonly=on -d /dev/disk/by-id tpool
try pool --wipe
zpool export tpool
