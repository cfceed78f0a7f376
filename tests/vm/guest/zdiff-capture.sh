#!/bin/bash
# Captures real `zfs diff` output for the parser's fixtures (tests/fixtures/zdiff): a dataset
# whose snapshot holds files, then every kind of change, with odd names: spaces, a newline, a
# tab, a backslash, non-UTF-8 bytes, a rename, a hard link (link count), a symlink, a pipe,
# devices. Results in out/zdiff/. Run by tests/fixtures/zdiff/capture.sh.
. /share/common.sh
O=$OUT/zdiff
mkdir -p "$O"
D=$(disk cap01)
zpool create -f -O mountpoint=none tank "$D"
zfs create -o mountpoint=/tmp/fs tank/fs
cd /tmp/fs
echo one > 'a file'
printf 'x\n' > "$(printf 'new\nline')"
echo t > "$(printf 'tab\there')"
echo b > 'back\slash'
echo e > "$(printf '\351t\351')"
echo u > 'ünïcödé'
mkdir -p d/sub && echo f > d/f && echo old > old && echo keep > keep
ln -s keep link-to-keep
mkfifo pipe
zfs snapshot tank/fs@s1
mv 'a file' 'renamed file'
# Odd names changed and made after the snapshot, so that zfs diff shows them.
echo more >> "$(printf 'new\nline')"
echo more >> "$(printf '\351t\351')"
rm "$(printf 'tab\there')"
echo n > "$(printf 'fresh\nname')"
echo n > "$(printf 'fresh\ttab')"
echo n > 'fresh\back'
echo n > "$(printf '\377\376bytes')"
echo n > 'fresh ünï'
mkfifo pipe2
ln -s keep link2
echo more >> d/f
rm old
echo new > 'new space'
ln keep keep-hardlink
mknod blockdev b 7 0
mknod chardev c 1 3
mkdir "$(printf 'dir\351')" && echo z > "$(printf 'dir\351')/in"
chmod 600 keep
rm -r d/sub
cd /
sync
zfs diff -FHt tank/fs@s1 > "$O/odd-FHt.txt"
zfs diff -FH tank/fs@s1 > "$O/odd-FH.txt"
zfs diff -H tank/fs@s1 > "$O/odd-H.txt"
find /tmp/fs -mindepth 1 -print0 > "$O/odd-names.bin"
zfs version > "$O/zfs-version.txt"
# As on an installed system: the empty root @blank, then what a boot and a day leave on it.
zfs create -o mountpoint=/tmp/root -o canmount=on tank/root
zfs snapshot tank/root@blank
cd /tmp/root
mkdir -p etc/nixos etc/ssh var/lib/nixos var/lib/systemd/timers var/log root/.cache/nix nix home persist boot tmp bin usr/bin
ln -s /etc/static/ssh/sshd_config etc/ssh/sshd_config
ln -s /etc/static etc/static-link
ln -s /nix/store/abc-etc/etc etc/static
echo x > etc/.clean
ln -s /persist/etc/machine-id etc/machine-id
echo root:x:0:0 > etc/passwd
echo seed > var/lib/systemd/random-seed
echo stamp > var/lib/systemd/timers/stamp-fstrim.timer
dd if=/dev/zero of=root/.cache/nix/binary-cache-v6.sqlite bs=1024 count=64 2>/dev/null
echo 'ls -la' > root/.bash_history
echo canary > etc/rollback-canary
echo tmp > tmp/scratch
ln -s /nix/store/abc-bash/bin/sh bin/sh
cd /
sync
zfs diff -FHt tank/root@blank > "$O/installed-FHt.txt"
zpool export tank
