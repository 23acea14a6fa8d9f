#!/bin/bash
# PID 1 of a local-cloud VM, started inside the VM's network namespace by
# `unshare --mount --uts --ipc --pid --fork --kill-child --mount-proc`.
# Arguments: the VM's disk folder and its hostname. Builds the VM's private
# filesystem view, starts first-boot work in the background, then becomes
# sshd (which reaps orphans as PID 1).
set -euo pipefail
d=$1
name=$2
hostname "$name"
for dir in /etc /usr /var /opt /home /srv; do
  mount -t overlay "vm-$name" -o "lowerdir=$dir,upperdir=$d/upper$dir,workdir=$d/work$dir" "$dir"
done
mount --bind "$d/root" /root
# The official schemas for the K3s STAND-IN, read-only, when the cloud has them.
if [ -s "$d/schemas" ]; then
  mount --bind "$(cat "$d/schemas")" /opt/k3s-standin-schemas
  mount -o remount,bind,ro /opt/k3s-standin-schemas
fi
# From here on the disk folder (below the host's /run) is out of sight.
mount -t tmpfs -o mode=755,size=64m tmpfs /run
mount -t tmpfs -o mode=1777,size=512m tmpfs /tmp
mount -t tmpfs -o mode=1777,size=64m tmpfs /dev/shm
mkdir -p /run/sshd /run/lock
cd /root
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
inst=/var/lib/cloud/instance
if [ ! -e "$inst/boot-finished" ]; then
  (
    if [ -e "$inst/scripts/runcmd" ]; then
      /bin/sh "$inst/scripts/runcmd" >> /var/log/cloud-init-output.log 2>&1 < /dev/null || true
    fi
    date -u +%FT%TZ > "$inst/boot-finished"
  ) &
else
  systemctl --boot >> /var/log/cloud-init-output.log 2>&1 < /dev/null &
fi
echo "vm $name: exec sshd"
exec /usr/sbin/sshd -D -e
