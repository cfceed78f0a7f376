# Boot 2: as stage 1 would: open LUKS, import the pool from /dev/disk/by-id, run the rollback
# command the host extracted from the generated blankroot.nix, then mount and look.
. /share/common.sh
O=$OUT/boot2
mkdir -p "$O"
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
umount -R /mnt
zpool export rpool
cryptsetup close cryptroot
