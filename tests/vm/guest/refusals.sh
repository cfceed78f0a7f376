# Each busy state of disk03 makes `blankroot install` refuse, naming what holds the disk, and
# leaves the disk unchanged. Results in out/refuse-<case>.{rc,err,disk}.
#
# The disk is 6 GiB (the layout's minimum is 5) but hashing all of it ten times is far too slow
# under TCG, so the hash covers the first 128 MiB and the last MiB: the primary GPT, the whole
# 100 MiB partition every busy state lives in, and the backup GPT. Anything an install writes
# first (sfdisk's new table) lies there; the rest of the disk is never written by anyone.
. /share/common.sh
D=$(disk disk03)
P="$D-part1"
sum() { { head -c 128M "$D"; tail -c 1M "$D"; } | sha256sum | cut -d' ' -f1; }
try() {
    name=$1
    shift
    udevadm settle
    before=$(sum)
    set +e
    "$B" install --disk "$D" --yes --passphrase-file /tmp/passphrase --until config --state-dir "/tmp/state-$name" "$@" \
        > "$OUT/refuse-$name.out" 2> "$OUT/refuse-$name.err"
    echo $? > "$OUT/refuse-$name.rc"
    set -e
    if [ "$(sum)" = "$before" ]; then echo same; else echo CHANGED; fi > "$OUT/refuse-$name.disk"
    mark "refused:$name"
}
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
