#!/bin/bash
# Assembles the base of the stage-1 tier's initrd from the kit guest's own files: a systemd
# initrd laid out the way NixOS's `boot.initrd.systemd` lays out its own (nixpkgs
# nixos/modules/system/boot/systemd/initrd.nix, read 2026-12-02), with Debian 12's systemd 252
# instead of NixOS's, and no NixOS store:
#   /init                 -> systemd (initrd.nix: "/init".source = systemd/lib/systemd/systemd)
#   /etc/systemd/system   the upstream units initrd.nix lists (`upstreamUnits`), the udev units
#                         NixOS's udev module adds, the cryptsetup targets luksroot.nix adds,
#                         and upstream's sysinit.target.wants links among them (`upstreamWants`)
#   /etc/systemd/system.conf  DefaultEnvironment=PATH=/bin:/sbin (settings.Manager)
#   /etc/initrd-release, /etc/os-release, /etc/shadow ("root:*:::::::": no emergency access,
#                         emergencyAccess = false), /etc/sysctl.d/nixos.conf (kernel.modprobe)
#   /bin                  systemd's tools, coreutils, kmod, bash, util-linux mount/umount/fsck,
#                         zfs/zpool (zfs.nix extraBin), cryptsetup, dmsetup (the dm udev rules)
#   /lib/modules          the modules stage 1 needs (zfs, dm-crypt and the crypto API, virtio),
#                         plus ext4 and 9p for the test itself (see below)
#   udev rules            systemd's storage rules, device-mapper's (lvm2's on NixOS: dmsetup's
#                         here, same names), ZFS's
# What the configuration under test contributes (crypttab, fstab, hostid, hostname, the units
# blankroot.nix declares, NixOS's own stage-1 units reproduced from nixpkgs) is NOT here: the
# host renders it from the evaluated configuration into a second cpio appended to this one
# (tests/it/common/stage1.rs). Test-only additions, not in a NixOS initrd: ext4, 9p and
# 9pnet_virtio are loaded at start (modules-load.d/blankroot-test.conf) so that the stand-in
# system the boot switches into can reach the kit disk and the host's share.
#
#   stage1-initrd.sh OUT.cpio      (run as root inside the kit guest; prints a summary)
set -euo pipefail
OUT=${1:?usage: stage1-initrd.sh OUT.cpio}
KVER=$(uname -r)
R=$(mktemp -d /tmp/stage1-initrd.XXXXXX)
trap 'rm -rf "$R"' EXIT

# Debian's merged /usr layout: the real directories are under /usr.
mkdir -p "$R"/usr/bin "$R"/usr/sbin "$R"/usr/lib "$R"/usr/lib64 "$R"/etc/systemd/system \
  "$R"/dev "$R"/proc "$R"/sys "$R"/run "$R"/tmp "$R"/sysroot "$R"/root "$R"/var
ln -s usr/bin "$R/bin"; ln -s usr/sbin "$R/sbin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3

# copy PATH...: each file at its own path, symlinks with their targets, ELF files with every
# library ldd resolves for them.
declare -A SEEN=()
copy() {
  local f t lib
  for f in "$@"; do
    [ -n "${SEEN[$f]:-}" ] && continue
    SEEN[$f]=1
    if [ -L "$f" ]; then
      mkdir -p "$R$(dirname "$f")"
      cp -P "$f" "$R$f"
      t=$(readlink -f "$f")
      copy "$t"
      continue
    fi
    [ -e "$f" ] || { echo "stage1-initrd: missing $f" >&2; return 1; }
    mkdir -p "$R$(dirname "$f")"
    cp -p "$f" "$R$f"
    if [ -f "$f" ] && [ "$(head -c4 "$f" | tr -dc 'A-Z')" = ELF ]; then
      for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true); do
        copy "$lib"
      done
    fi
  done
}
# A tool on PATH, by name, copied at its real path and linked into /usr/bin and /usr/sbin.
tool() {
  local n p
  for n in "$@"; do
    p=$(type -P "$n") || { echo "stage1-initrd: no $n" >&2; return 1; }
    p=$(readlink -f "$p")
    copy "$p"
    [ -e "$R/usr/bin/$n" ] || ln -s "$p" "$R/usr/bin/$n"
    [ -e "$R/usr/sbin/$n" ] || ln -s "$p" "$R/usr/sbin/$n"
  done
}

SD=/usr/lib/systemd
copy "$SD/systemd"
ln -s "$SD/systemd" "$R/init"
# initrd.nix storePaths: systemd's own tools and generators (those systemd 252 has), and the
# cryptsetup generator and helper (luksroot.nix brings systemd's cryptsetup support).
for f in systemd-journald systemd-udevd systemd-fsck systemd-hibernate-resume systemd-makefs \
  systemd-modules-load systemd-remount-fs systemd-shutdown systemd-sulogin-shell systemd-sysctl \
  systemd-cryptsetup systemd-sysroot-fstab-check; do
  [ -e "$SD/$f" ] && copy "$SD/$f"
done
for g in systemd-debug-generator systemd-fstab-generator systemd-gpt-auto-generator \
  systemd-hibernate-resume-generator systemd-run-generator systemd-cryptsetup-generator; do
  [ -e "$SD/system-generators/$g" ] && copy "$SD/system-generators/$g"
done
# initrdBin: coreutils, systemd, kmod, bash; extraBin: mount, umount, fsck, less; zfs.nix's
# extraBin: zfs, zpool (and mount.zfs); luksroot: cryptsetup; dmsetup for the dm udev rules.
tool systemctl journalctl udevadm systemd-tty-ask-password-agent systemd-ask-password \
  systemd-escape systemd-notify mount umount sulogin fsck kmod modprobe insmod lsmod rmmod \
  bash cat ls mkdir rm cp mv ln echo tee sleep readlink realpath dirname basename chroot head tail \
  grep sed touch stat env true false uname wc sync dmesg seq awk cryptsetup dmsetup zfs zpool mount.zfs
ln -s bash "$R/usr/bin/sh"
# glibc loads the NSS module by name (initrd.nix copies libnss_files.so.2 too).
copy /usr/lib/x86_64-linux-gnu/libnss_files.so.2
# udev's helpers used by the rules below.
for f in /usr/lib/udev/ata_id /usr/lib/udev/scsi_id /usr/lib/udev/cdrom_id /usr/lib/udev/vdev_id \
  /usr/lib/udev/zvol_id; do
  [ -e "$f" ] && copy "$f"
done
for r in 50-udev-default 60-block 60-persistent-storage 60-persistent-storage-dm 55-dm \
  95-dm-notify 99-systemd 80-drivers 60-zvol 69-vdev 90-zfs; do
  [ -e "/usr/lib/udev/rules.d/$r.rules" ] && copy "/usr/lib/udev/rules.d/$r.rules"
done
mkdir -p "$R/etc/udev"
: > "$R/etc/udev/udev.conf"

# Units: initrd.nix's upstreamUnits (as far as systemd 252 has them), the udev units of NixOS's
# udev module (services/hardware/udev.nix: boot.initrd.systemd.additionalUpstreamUnits), and
# the cryptsetup units of luksroot.nix.
UNITS="basic.target breakpoint-pre-udev.service breakpoint-pre-basic.service
breakpoint-pre-mount.service breakpoint-pre-switch-root.service ctrl-alt-del.target
debug-shell.service emergency.service emergency.target final.target halt.target
initrd-cleanup.service initrd-fs.target initrd-parse-etc.service initrd-root-device.target
initrd-root-fs.target initrd-switch-root.service initrd-switch-root.target initrd.target
kexec.target kmod-static-nodes.service local-fs-pre.target local-fs.target modprobe@.service
multi-user.target paths.target poweroff.target reboot.target rescue.service rescue.target
rpcbind.target shutdown.target sigpwr.target slices.target sockets.target swap.target
sysinit.target sys-kernel-config.mount syslog.socket systemd-ask-password-console.path
systemd-ask-password-console.service systemd-factory-reset-complete.service
factory-reset-now.target systemd-fsck@.service systemd-halt.service
systemd-hibernate-resume.service systemd-journald-audit.socket systemd-journald-dev-log.socket
systemd-journald.service systemd-journald.socket systemd-kexec.service
systemd-modules-load.service systemd-poweroff.service systemd-reboot.service
systemd-sysctl.service timers.target umount.target systemd-bsod.service
initrd-udevadm-cleanup-db.service systemd-udevd-control.socket systemd-udevd-kernel.socket
systemd-udevd.service systemd-udev-settle.service systemd-udev-trigger.service
cryptsetup.target cryptsetup-pre.target remote-cryptsetup.target
system-systemd\\x2dcryptsetup.slice"
n=0
for u in $UNITS; do
  src=$SD/system/$u
  [ -e "$src" ] || continue
  cp -L "$src" "$R/etc/systemd/system/$u"
  n=$((n + 1))
done
# upstreamWants: sysinit.target.wants, as far as its units are present (and sockets.target.wants
# likewise: on Debian the sockets of journald and udevd are enabled there).
for w in sysinit.target.wants sockets.target.wants; do
  mkdir -p "$R/etc/systemd/system/$w"
  for l in "$SD/system/$w"/*; do
    u=$(basename "$l")
    [ -e "$R/etc/systemd/system/$u" ] && ln -s "../$u" "$R/etc/systemd/system/$w/$u"
  done
done
ln -s initrd.target "$R/etc/systemd/system/default.target"

cat > "$R/etc/systemd/system.conf" <<'EOF'
[Manager]
DefaultEnvironment=PATH=/bin:/sbin
ManagerEnvironment=PATH=/bin:/sbin
EOF
cat > "$R/etc/initrd-release" <<'EOF'
NAME="blankroot stage-1 tier"
ID=blankroot-stage1
PRETTY_NAME="blankroot stage-1 tier (NixOS stage-1 units on Debian's systemd)"
EOF
cp "$R/etc/initrd-release" "$R/etc/os-release"
echo 'root:*:::::::' > "$R/etc/shadow"
chmod 0600 "$R/etc/shadow"
echo 'root:x:0:0:root:/root:/bin/bash' > "$R/etc/passwd"
printf '%s\n' root:x:0: tty:x:5: disk:x:6: kmem:x:9: cdrom:x:24: audio:x:29: video:x:44: \
  input:x:105: kvm:x:106: render:x:107: sgx:x:108: systemd-journal:x:101: > "$R/etc/group"
mkdir -p "$R/etc/sysctl.d" "$R/etc/modules-load.d"
echo 'kernel.modprobe = /sbin/modprobe' > "$R/etc/sysctl.d/nixos.conf"
printf '%s\n' ext4 9p 9pnet_virtio > "$R/etc/modules-load.d/blankroot-test.conf"
# The loader finds the multiarch libraries through its cache.
cp -a /etc/ld.so.conf /etc/ld.so.conf.d "$R/etc/"
ldconfig -r "$R"

# Kernel modules: what luksroot.nix and zfs.nix load or make available, the virtio drivers udev
# loads by modalias, and the test's ext4/9p; with everything they depend on.
MODS="zfs dm_mod dm_crypt cryptd aesni_intel aes_generic xts cbc sha256_generic sha512_generic
af_alg algif_skcipher crc32c_generic virtio_pci virtio_blk virtio_console virtio_rng ext4 9p
9pnet_virtio efivarfs autofs4 loop"
for m in $MODS; do
  deps=$(modprobe -S "$KVER" --show-depends "$m") || { echo "stage1-initrd: no module $m" >&2; continue; }
  for k in $(echo "$deps" | awk '$1 == "insmod" { print $2 }'); do
    copy "$k"
  done
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
  copy "/usr/lib/modules/$KVER/$f"
done
depmod -b "$R/usr" "$KVER"

(cd "$R" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$OUT"
echo "stage1-initrd: $n units, $(find "$R" -type f | wc -l) files, $(du -sm "$R" | cut -f1) MiB, kernel $KVER -> $OUT ($(du -m "$OUT" | cut -f1) MiB)"
