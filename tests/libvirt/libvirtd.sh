#!/usr/bin/env bash
# Makes sure a real libvirt daemon with the QEMU driver answers on qemu:///system, for the
# tests that define, edit and start real domains (tests/it/libvirt.rs, the ignored ones). CI
# machines have no systemd to start it, and the Debian package that would make its users
# (libvirt-daemon-system) wants systemd; so this installs the daemon and the firmware
# (libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 ovmf seabios), makes the
# libvirt-qemu user, lets QEMU run as root without a security driver (these are throw-away
# test domains, run under TCG), and starts libvirtd and virtlogd. Idempotent; needs root.
# Prints the URI on success.
set -euo pipefail
URI=qemu:///system
if virsh -c $URI version > /dev/null 2>&1; then echo $URI; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "libvirtd.sh: needs root" >&2; exit 2; }
missing=""
for p in libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 ovmf seabios; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing > /dev/null
fi
getent group libvirt-qemu > /dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu > /dev/null || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
getent group kvm > /dev/null || groupadd -r kvm
getent group libvirt > /dev/null || groupadd -r libvirt
if ! grep -q '^# blankroot tests' /etc/libvirt/qemu.conf; then
  printf '# blankroot tests (tests/libvirt/libvirtd.sh)\nuser = "root"\ngroup = "root"\ndynamic_ownership = 0\nsecurity_driver = "none"\n' \
    >> /etc/libvirt/qemu.conf
fi
mkdir -p /var/log/libvirt /run/libvirt /var/lib/libvirt/images
for _ in $(seq 1 100); do
  if virsh -c $URI version > /dev/null 2>&1; then echo $URI; exit 0; fi
  # (Re)started when not running: a daemon that was just stopped may take a moment to go.
  pgrep -x virtlogd > /dev/null || /usr/sbin/virtlogd -d
  pgrep -x libvirtd > /dev/null || /usr/sbin/libvirtd -d
  sleep 0.2
done
echo "libvirtd.sh: libvirtd does not answer on $URI; its log: /var/log/libvirt/libvirtd.log" >&2
tail -5 /var/log/libvirt/libvirtd.log >&2 || true
exit 1
