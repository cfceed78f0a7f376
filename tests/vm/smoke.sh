#!/usr/bin/env bash
# Smoke test of the VM kit and runner (docs/vm-kit.md). Builds or reuses the kit, then boots
# it three times with two disks (serial disk01, and one without a serial):
#   1. by-id names; a host-built binary runs from /share; GPT + FAT32 on the serial-less disk;
#      LUKS2 (cheap pbkdf2, test only) + ZFS pool + dataset on disk01; export, close;
#      zfs version;
#   2. the same disk file on a second boot: open LUKS, `zpool import -N -d /dev/disk/by-id`,
#      the data written by boot 1 is there;
#   3. a power cut requested with --kill-on-mark ends the run with 137.
# Prints what it checked and the time of each part. Needs root (kit.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
secs() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "smoke: $*"; }
T_ALL=$EPOCHREALTIME

if [ -z "${BLANKROOT_VM_KIT:-}" ]; then
  t=$EPOCHREALTIME
  BLANKROOT_VM_KIT=$("$HERE/kit.sh" | tail -n 1)
  say "kit ready in $(secs "$t") s: $BLANKROOT_VM_KIT"
fi
export BLANKROOT_VM_KIT

W=$(mktemp -d /tmp/blankroot-vm-smoke.XXXXXX)
passed=0
finish() {
  rm -f "$W"/*.img
  if [ "$passed" = 1 ]; then rm -rf "$W"; else echo "smoke: FAILED; logs kept in $W" >&2; fi
}
trap finish EXIT
truncate -s 2G "$W/disk01.img"
truncate -s 1G "$W/disk02.img"
mkdir "$W/share"
# A binary built on the host runs in the guest straight from the share (same glibc).
cp "$(command -v sha256sum)" "$W/share/host-sha256sum"
DISKS=(--disk "$W/disk01.img:disk01" --disk "$W/disk02.img:")

# ---- boot 1
cat >"$W/share/test.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
trap 'echo "smoke-guest: FAILED at line $LINENO: $BASH_COMMAND"' ERR
say() { echo "smoke-guest: $*"; }
now() { cut -d' ' -f1 /proc/uptime; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f s", b - a }'; }
D=/dev/disk/by-id/virtio-disk01
[ -b "$D" ]
say "ok: $D exists -> $(readlink -f "$D")"
n=$(ls -d /sys/block/vd* | wc -l)
[ "$n" = 3 ]
noserial=""
for b in /sys/block/vd*; do
  if [ "${b##*/}" != vda ] && [ -z "$(cat "$b/serial")" ]; then noserial=${b##*/}; fi
done
[ -n "$noserial" ]
if ls -l /dev/disk/by-id/ | grep "/$noserial\$" >/dev/null; then
  say "FAILED: $noserial has a by-id name"; exit 1
fi
say "ok: 3 virtio disks (kit vda, disk01, and $noserial without serial, which has no by-id name)"
# Two real digests, equal (two failed runs would print two equal empty strings).
host_sum=$(./host-sha256sum </share/test.sh)
guest_sum=$(sha256sum </share/test.sh)
[[ $host_sum =~ ^[0-9a-f]{64}\ \ -$ ]] && [ "$host_sum" = "$guest_sum" ]
say "ok: a host-built binary runs from /share"
N=/dev/$noserial
printf 'label: gpt\nsize=64MiB, type=U, name=ESP\n' | sfdisk -q "$N"
udevadm settle
mkfs.fat -F32 -n SMOKE "${N}1" >/dev/null
udevadm settle   # udev sees the new file system through its inotify watch (a "change" event)
[ -e /dev/disk/by-label/SMOKE ]
mount -t vfat -o umask=0077 "${N}1" /mnt
echo esp >/mnt/file
umount /mnt
say "ok: GPT on $noserial, ${noserial}1 FAT32 with a by-label link, mounted as vfat"
echo BLANKROOT-VM-MARK luks
t=$(now)
printf smoke-pass | cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
  --batch-mode --key-file - "$D"
say "ok: luksFormat (pbkdf2, 1000 iterations: test only) in $(took "$t")"
t=$(now)
printf smoke-pass | cryptsetup open --key-file - "$D" smoke
udevadm settle
[ -b /dev/mapper/smoke ]
say "ok: cryptsetup open in $(took "$t"); /dev/mapper/smoke"
echo BLANKROOT-VM-MARK zfs
t=$(now)
zpool create -o ashift=12 -O mountpoint=none -O compression=zstd -O xattr=sa rpool /dev/mapper/smoke
say "ok: zpool create in $(took "$t")"
zfs create -o mountpoint=legacy rpool/data
mount -t zfs rpool/data /mnt
echo "written by boot 1" >/mnt/hello
umount /mnt
zfs snapshot rpool/data@boot1
say "ok: zfs create, mount, write, snapshot"
t=$(now)
zpool export rpool
cryptsetup close smoke
say "ok: zpool export + cryptsetup close in $(took "$t")"
say "zfs version: $(zfs version | tr '\n' ' ')"
say "cryptsetup: $(cryptsetup --version); kernel $(uname -r)"
echo "boot 1 ok" >/share/boot1.ok
EOF
chmod +x "$W/share/test.sh"
t=$EPOCHREALTIME
rc=0
"$HERE/run.sh" --share "$W/share" "${DISKS[@]}" --timeout 600 --log "$W/boot1.log" --follow || rc=$?
[ "$rc" = 0 ] || { say "boot 1 FAILED (exit $rc)"; exit 1; }
[ -f "$W/share/boot1.ok" ] || { say "boot 1 FAILED: the guest's file did not reach the share"; exit 1; }
say "boot 1 passed in $(secs "$t") s"

# ---- boot 2: same disk file
cat >"$W/share/test.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
trap 'echo "smoke-guest: FAILED at line $LINENO: $BASH_COMMAND"' ERR
say() { echo "smoke-guest: $*"; }
D=/dev/disk/by-id/virtio-disk01
printf smoke-pass | cryptsetup open --key-file - "$D" smoke
udevadm settle
zpool import -N -d /dev/disk/by-id rpool
say "ok: zpool import -N -d /dev/disk/by-id rpool after cryptsetup open"
zpool list -H -o name,health rpool
zfs list -H -o name rpool/data@boot1 >/dev/null
mount -t zfs rpool/data /mnt
[ "$(cat /mnt/hello)" = "written by boot 1" ]
say "ok: rpool/data@boot1 and the file written by boot 1 are there"
umount /mnt
zpool export rpool
cryptsetup close smoke
EOF
t=$EPOCHREALTIME
rc=0
"$HERE/run.sh" --share "$W/share" "${DISKS[@]}" --timeout 600 --log "$W/boot2.log" --follow || rc=$?
[ "$rc" = 0 ] || { say "boot 2 FAILED (exit $rc)"; exit 1; }
say "boot 2 passed in $(secs "$t") s"

# ---- boot 3: power cut on a mark
cat >"$W/share/test.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
echo BLANKROOT-VM-MARK cut
sleep 600
EOF
t=$EPOCHREALTIME
rc=0
"$HERE/run.sh" --share "$W/share" "${DISKS[@]}" --timeout 600 --log "$W/boot3.log" --kill-on-mark cut || rc=$?
[ "$rc" = 137 ] || { say "boot 3 FAILED: --kill-on-mark gave exit $rc, not 137"; exit 1; }
! grep -aq BLANKROOT-VM-RESULT "$W/boot3.log" || { say "boot 3 FAILED: the guest finished"; exit 1; }
say "ok: --kill-on-mark cut QEMU's power (exit 137) in $(secs "$t") s"

passed=1
say "PASSED in $(secs "$T_ALL") s"
