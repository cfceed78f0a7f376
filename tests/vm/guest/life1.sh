#!/bin/bash
# Living with the rollback, boot 1: install, then on the installed tree (/mnt) leave state as
# a day would, ask `blankroot diff`, `blankroot persist /var/lib/foo`, ask diff again, arm
# verify-rollback, close. Results in out/life/.
. /share/common.sh
O=$OUT/life
mkdir -p "$O"
install_marked --config $S/cfg.toml --yes --passphrase-file /tmp/passphrase --until config --state-dir /tmp/state > /dev/null
mkdir -p /mnt/var/lib/foo/sub /mnt/root/.cache/nix
echo state > /mnt/var/lib/foo/state.db
echo key > /mnt/var/lib/foo/sub/key
chmod 600 /mnt/var/lib/foo/sub/key
chown 1234:5678 /mnt/var/lib/foo/sub/key
setfacl -m u:1000:rw /mnt/var/lib/foo/state.db
setfattr -n user.origin -v kept /mnt/var/lib/foo/state.db
touch -d '2020-02-02 02:02:02.123456789' /mnt/var/lib/foo/state.db
dd if=/dev/zero of=/mnt/root/.cache/nix/big bs=1M count=3 2>/dev/null
echo 'ls' > /mnt/root/.bash_history
echo canary > /mnt/etc/rollback-canary
sync
zfs diff -FHt rpool/local/root@blank > "$O/zdiff-raw.txt"
"$B" diff --root /mnt --format json > "$O/diff-before.json"
"$B" diff --root /mnt > "$O/diff-before.txt"
"$B" persist --root /mnt /var/lib/foo > "$O/persist.txt" 2>&1
"$B" diff --root /mnt --format json > "$O/diff-after.json"
"$B" verify-rollback --root /mnt arm > "$O/arm.txt" 2>&1
cd /mnt/persist/var/lib/foo
{ stat -c '%n %a %u %g %y' state.db sub sub/key; getfacl -cpn state.db; getfattr -d state.db; } > "$O/kept-meta.txt" 2>&1
cd /
cp /mnt/etc/nixos/blankroot.toml "$O/blankroot.toml"
cp /mnt/etc/nixos/blankroot.nix "$O/blankroot.nix"
umount -R /mnt
zpool export rpool
cryptsetup close cryptroot
