#!/usr/bin/env bash
# Builds the blankroot test VM kit: a Debian 12 (bookworm) guest with real cryptsetup, udev and
# OpenZFS 2.3 (zfs-dkms from bookworm-backports, contrib), as a kernel, an initrd and an ext4
# root image, for tests/vm/run.sh. See docs/vm-kit.md.
#
#   tests/vm/kit.sh            # prints the kit directory as the last line of stdout
#
# The kit is cached in ${BLANKROOT_VM_CACHE:-/var/cache/blankroot/vm}/<hash>/, where <hash> is
# taken from this script and guest-init.sh (everything that shapes the image). A complete
# cached kit is reported at once; otherwise it is built (about 7 minutes on 2 cores, mostly
# the zfs-dkms compile). Needs root and network access to a Debian archive: the one this
# machine's apt sources name for bookworm (tests/vm/apt-archive.sh), or BLANKROOT_VM_MIRROR
# (and BLANKROOT_VM_SECURITY_MIRROR) when set. Installs its host packages
# (debootstrap, qemu-system-x86, ...) with apt-get if they are missing. Stage timings go to
# stderr; the full build output to <cache>/<hash>.build.log (kept in the kit as build.log).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${BLANKROOT_VM_CACHE:-/var/cache/blankroot/vm}
SUITE=bookworm
# shellcheck source=apt-archive.sh
. "$HERE/apt-archive.sh"
# The recipe: this script and the guest's PID 1. Anything else that shapes the image must be
# added here.
HASH=$(cd "$HERE" && cat kit.sh guest-init.sh | sha256sum | cut -c1-16)
KIT=$CACHE/$HASH
LABEL=brvm-${HASH:0:8}            # ext4 label of the kit's root (16 characters at most)
GUEST_INIT=/sbin/blankroot-guest-init

# Host commands (or files) the kit and run.sh need, and the Debian packages that provide them.
HOST_NEEDS="debootstrap:debootstrap gpgv:gpgv wget:wget mkfs.ext4:e2fsprogs flock:util-linux
 qemu-system-x86_64:qemu-system-x86 timeout:coreutils
 /usr/share/keyrings/debian-archive-keyring.gpg:debian-archive-keyring
 /usr/share/ovmf/OVMF.fd:ovmf"

exec 4>&2   # the log's own descriptor: traps may run while a stage has stderr redirected
log() { printf 'kit: %s\n' "$*" >&4; }
die() { log "error: $*"; exit 1; }

host_packages() {
  local missing="" pair cmd pkg
  for pair in $HOST_NEEDS; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    case $cmd in
      /*) [ -e "$cmd" ] || missing="$missing $pkg" ;;
      *) command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg" ;;
    esac
  done
  [ -z "$missing" ] && return 0
  [ "$(id -u)" = 0 ] || die "missing host packages:$missing (run as root to install them)"
  log "installing host packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends matters: qemu-system-x86 recommends qemu-utils, which conflicts
  # with a qemu-utils from backports when one is installed; it is not needed here.
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Fast path: a complete kit for this recipe exists.
if [ -f "$KIT/complete" ]; then
  host_packages
  echo "$KIT"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "building the kit needs root (debootstrap, chroot, mounts)"
mkdir -p "$CACHE"
exec 9>"$CACHE/$HASH.lock"
if ! flock -n 9; then
  log "another kit.sh is building $KIT; waiting for it"
  flock 9
fi
if [ -f "$KIT/complete" ]; then host_packages; echo "$KIT"; exit 0; fi

BUILD=$CACHE/$HASH.partial
R=$BUILD/root
BUILDLOG=$CACHE/$HASH.build.log
: >"$BUILDLOG"

# Unmounts everything under $BUILD, deepest first.
unmount_build() {
  local m
  for m in $(awk -v b="$BUILD/" 'index($2, b) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}
remove_build() {
  unmount_build
  if awk -v b="$BUILD/" 'index($2, b) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
    die "something is still mounted under $BUILD; not deleting it"
  fi
  rm -rf --one-file-system "$BUILD"
}
on_exit() {
  local rc=$?
  unmount_build
  if [ "$rc" != 0 ]; then
    log "FAILED (exit $rc); last lines of $BUILDLOG:"
    tail -n 30 "$BUILDLOG" >&4 || true
    remove_build || true
  fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T_ALL=$EPOCHREALTIME
# stage NAME COMMAND...: runs COMMAND with its output in the build log and logs its wall time.
stage() {
  local name=$1 t0=$EPOCHREALTIME; shift
  log "stage $name ..."
  printf '\n===== stage %s\n' "$name" >>"$BUILDLOG"
  "$@" >>"$BUILDLOG" 2>&1
  log "stage $name: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }')"
}

in_chroot() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
APT="apt-get -y -q -o APT::Install-Recommends=false -o Acquire::Retries=3 -o Dpkg::Use-Pty=0"

mount_chroot() {
  mount -t proc proc "$R/proc"
  mount -t sysfs sysfs "$R/sys"
  mount --bind /dev "$R/dev"
  mount --bind /dev/pts "$R/dev/pts"
}

# The archive (and its security counterpart) the guest comes from: the environment's, else
# this machine's apt sources'. No archive host is written into this repository.
choose_archive() {
  MIRROR=${BLANKROOT_VM_MIRROR:-$(apt_archive "$SUITE" || true)}
  [ -n "$MIRROR" ] || die "no Debian archive for $SUITE: this machine's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/) list none, and BLANKROOT_VM_MIRROR is not set; set it to the URI of a Debian archive that serves $SUITE, $SUITE-updates and $SUITE-backports"
  SECURITY_MIRROR=${BLANKROOT_VM_SECURITY_MIRROR:-$(apt_archive "$SUITE-security" || true)}
  log "archive: $MIRROR; security: ${SECURITY_MIRROR:-none (no apt source of this machine serves $SUITE-security, and BLANKROOT_VM_SECURITY_MIRROR is not set)}"
}

do_debootstrap() {
  remove_build
  mkdir -p "$BUILD"
  debootstrap --variant=minbase --components=main,contrib "$SUITE" "$R" "$MIRROR"
}

do_configure() {
  cat >"$R/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main contrib
deb $MIRROR $SUITE-updates main contrib
deb $MIRROR $SUITE-backports main contrib
EOF
  if [ -n "$SECURITY_MIRROR" ]; then
    echo "deb $SECURITY_MIRROR $SUITE-security main contrib" >>"$R/etc/apt/sources.list"
  fi
  # No service may start in the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
  chmod 0755 "$R/usr/sbin/policy-rc.d"
  # The kit boots with its own initramfs (make_initramfs); keep the one that the kernel
  # package insists on generating small and quick to make.
  mkdir -p "$R/etc/initramfs-tools/conf.d"
  printf 'MODULES=list\nRESUME=none\n' >"$R/etc/initramfs-tools/conf.d/blankroot-vm"
  echo blankroot-vm >"$R/etc/hostname"
  : >"$R/etc/fstab"
  ln -sf ../proc/self/mounts "$R/etc/mtab"
}

do_base_packages() {
  mount_chroot
  in_chroot $APT update
  # linux-headers-amd64: for the zfs-dkms build only (removed from the image below).
  # whois: mkpasswd (the seed's yescrypt hashing, for the shell-script baseline of the install
  # benchmark); acl, attr: setfacl/getfacl, setfattr/getfattr (persisted paths keep ACLs and
  # xattrs).
  # systemd: the stage-1 tier's initrd (tests/vm/guest/stage1-initrd.sh assembles a systemd
  # initrd from the guest's own systemd 252, systemd-cryptsetup and its generators) and
  # journalctl; the kit itself still boots with guest-init.sh as PID 1.
  in_chroot $APT install linux-image-amd64 linux-headers-amd64 udev kmod util-linux fdisk gdisk \
    dosfstools e2fsprogs busybox procps cryptsetup-bin jq whois acl attr systemd
  # A static busybox (not installed: it conflicts with busybox) for the stage-1 tier's stand-in
  # system on the installed root, where no dynamic loader exists (as on NixOS's blank root).
  in_chroot sh -euc 'cd /tmp && apt-get download -q busybox-static && mkdir -p /tmp/bbs \
    && dpkg-deb -x busybox-static_*.deb /tmp/bbs \
    && install -D -m 0755 /tmp/bbs/bin/busybox /usr/lib/blankroot-vm/busybox-static \
    && rm -rf /tmp/bbs busybox-static_*.deb'
  in_chroot /usr/lib/blankroot-vm/busybox-static true
}

do_zfs() {
  in_chroot $APT install -t "$SUITE-backports" zfs-dkms zfsutils-linux
  local kver
  kver=$(kernel_version)
  if ! ls "$R/lib/modules/$kver/updates/dkms/"zfs.ko* >/dev/null 2>&1; then
    echo "zfs.ko missing for $kver after the package install; running dkms autoinstall"
    in_chroot dkms autoinstall -k "$kver"
  fi
  ls "$R/lib/modules/$kver/updates/dkms/"zfs.ko* >/dev/null || { echo "no zfs.ko for $kver"; return 1; }
  echo "zfs.ko vermagic: $(in_chroot modinfo -F vermagic -k "$kver" zfs)"
  in_chroot modinfo -F vermagic -k "$kver" zfs | grep -q "^$kver " || { echo "zfs.ko is not for $kver"; return 1; }
}

kernel_version() {
  local n
  n=$(find "$R/lib/modules" -mindepth 1 -maxdepth 1 -type d | wc -l)
  [ "$n" = 1 ] || { echo "expected one kernel in the chroot, found $n" >&2; return 1; }
  basename "$(find "$R/lib/modules" -mindepth 1 -maxdepth 1 -type d)"
}

do_finish() {
  local kver
  kver=$(kernel_version)
  install -m 0755 "$HERE/guest-init.sh" "$R$GUEST_INIT"
  mkdir -p "$R/share"
  in_chroot dpkg-query -W -f '${Package} ${Version}\n' >"$BUILD/packages.txt"
  in_chroot $APT clean
  rm -f "$R/usr/sbin/policy-rc.d"
  mkdir -p "$BUILD/kit"
  make_initramfs "$kver"
  unmount_build
  cp "$R/boot/vmlinuz-$kver" "$BUILD/kit/vmlinuz"
}

# A tiny initramfs instead of initramfs-tools' (which runs udev twice and costs about 5 s of
# every boot under TCG): busybox, the virtio and ext4 modules, and an /init that mounts the
# root by its label and switches to the root's init=.
make_initramfs() {
  local kver=$1 ir=$R/tmp/blankroot-initramfs
  rm -rf "$ir"
  mkdir -p "$ir/bin" "$ir/dev" "$ir/proc" "$ir/sys" "$ir/root" "$ir/modules"
  cat >"$ir/init" <<'INIT'
#!/bin/busybox sh
# Initramfs of the blankroot test VM (made by tests/vm/kit.sh): loads the virtio and ext4
# modules, mounts root=LABEL=... and hands over to init=. No udev here.
b=/bin/busybox
$b mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
$b mount -t proc proc /proc
$b mount -t sysfs sysfs /sys
fail() { echo "BLANKROOT-VM-INIT-FAILED initramfs: $*"; $b sleep 1; $b poweroff -f; }
for m in $($b cat /modules/order); do $b insmod "/modules/$m" || fail "insmod $m"; done
label="" init=/sbin/init
for a in $($b cat /proc/cmdline); do
  case $a in root=LABEL=*) label=${a#root=LABEL=} ;; init=*) init=${a#init=} ;; esac
done
[ -n "$label" ] || fail "no root=LABEL= on the kernel command line"
i=0
until dev=$($b findfs "LABEL=$label" 2>/dev/null); do
  i=$((i + 1)); [ "$i" -le 300 ] || fail "no disk labelled $label"
  $b sleep 0.1
done
$b mount -t ext4 -o rw "$dev" /root || fail "mount $dev"
[ -x "/root$init" ] || fail "no $init on the root file system"
$b mount --move /dev /root/dev
$b mount --move /proc /root/proc
$b mount --move /sys /root/sys
exec $b switch_root /root "$init"
INIT
  chmod 0755 "$ir/init"
  # In the chroot, so that the loader's absolute symlinks resolve to the guest's files.
  in_chroot sh -euc '
    ir=/tmp/blankroot-initramfs kver=$1
    cp /usr/bin/busybox "$ir/bin/"
    for f in $(ldd /usr/bin/busybox | grep -o "/[^ ]*"); do
      mkdir -p "$ir${f%/*}"; cp -L "$f" "$ir$f"
    done
    for k in $(modprobe -S "$kver" -a --show-depends virtio_pci virtio_blk crc32c_generic ext4 |
               awk "\$1 == \"insmod\" && !seen[\$2]++ { print \$2 }"); do
      cp "$k" "$ir/modules/"; echo "${k##*/}" >>"$ir/modules/order"
    done
    mknod "$ir/dev/console" c 5 1
    cd "$ir" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 >/tmp/blankroot-initrd.img
  ' sh "$kver"
  echo "initramfs modules: $(tr '\n' ' ' <"$ir/modules/order")"
  mv "$R/tmp/blankroot-initrd.img" "$BUILD/kit/initrd.img"
  rm -rf "$ir"
}

# Drops what the guest never uses: compilers, headers, sources, docs, apt lists, and the driver
# trees of hardware the VM does not have (fewer modules for udev to load at every boot).
do_slim() {
  local kver m
  kver=$(kernel_version)
  m=$R/lib/modules/$kver/kernel
  rm -rf "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/* \
    "$R"/usr/share/lintian "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/* "$R"/usr/src/* \
    "$R"/usr/lib/gcc "$R"/usr/include "$R"/var/lib/dkms/*/*/build "$R"/boot/* \
    "$R"/lib/modules/"$kver"/build "$R"/lib/modules/"$kver"/source
  local d
  for d in gpu net media infiniband staging bluetooth parport watchdog i2c cpufreq hwmon iio isdn \
    usb hid input video firewire thunderbolt nfc mtd leds mfd platform edac mmc memstick pcmcia \
    ssb bcma target power gnss misc; do
    rm -rf "${m:?}/drivers/$d"
  done
  rm -rf "$m/sound" "$m/arch/x86/kvm"
  find "$m/net" -mindepth 1 -maxdepth 1 ! -name 9p -exec rm -rf {} +
  in_chroot depmod -a "$kver"
  du -sh "$R"
}

do_image() {
  local mb
  mb=$(du -sm "$R" | cut -f1)
  mb=$((mb + mb / 5 + 1024))       # 20 % slack plus 1 GiB free for the tests
  rm -f "$BUILD/kit/rootfs.img"
  mkfs.ext4 -q -F -L "$LABEL" -d "$R" -E lazy_itable_init=0,lazy_journal_init=0 \
    "$BUILD/kit/rootfs.img" "${mb}M"
  local kver zfsver
  kver=$(kernel_version)
  zfsver=$(awk '$1 == "zfsutils-linux" { print $2 }' "$BUILD/packages.txt")
  cat >"$BUILD/kit/kit.env" <<EOF
KIT_HASH=$HASH
KIT_LABEL=$LABEL
KIT_INIT=$GUEST_INIT
KIT_KVER=$kver
KIT_ZFS=$zfsver
KIT_BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
  mv "$BUILD/packages.txt" "$BUILD/kit/"
  ls -ls "$BUILD/kit"
}

log "building kit $HASH in $KIT (log: $BUILDLOG)"
choose_archive
stage host-packages host_packages
stage debootstrap do_debootstrap
stage configure do_configure
stage base-packages do_base_packages
stage zfs-dkms do_zfs
stage finish do_finish
stage slim do_slim
stage image do_image
cp "$BUILDLOG" "$BUILD/kit/build.log"
rm -rf "$KIT"
mv "$BUILD/kit" "$KIT"
date -u +%Y-%m-%dT%H:%M:%SZ >"$KIT/complete"
remove_build
log "kit $HASH built in $(awk -v a="$T_ALL" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f s", b - a }'): $KIT"
log "$(grep -E '^KIT_(KVER|ZFS)=' "$KIT/kit.env" | tr '\n' ' ')"
echo "$KIT"
