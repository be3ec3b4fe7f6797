#!/bin/sh
# Boot a throwaway systemd (PID 1 of a new PID + mount namespace) to run the real
# safetyd.service against the real daemon. Started by tests/test_systemd.py as
#   unshare --pid --fork --mount --propagation private --mount-proc sh systemd_boot.sh WORK REPO
# Everything it writes goes to tmpfs mounts private to the namespace: the host's
# /run, /var, /etc/systemd/system, /opt and /tmp are never touched.
set -eu
WORK=$1
REPO=$2
for dir in /run /var/lib /var/log /var/cache /etc/systemd/system; do
  mount -t tmpfs tmpfs "$dir"
done
mkdir -p /run/lock
cp "$WORK/safetyd.service" /etc/systemd/system/
# No udev in a test namespace: it would act on the host's device events.
for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
            systemd-udev-trigger.service systemd-udev-settle.service; do
  ln -s /dev/null "/etc/systemd/system/$unit"
done
mkdir -p /etc/safetyd
mount -t tmpfs tmpfs /etc/safetyd
cp -r "$WORK"/etc/. /etc/safetyd/
chmod 700 /etc/safetyd/credentials
chmod 600 /etc/safetyd/credentials/*
# The documented installation: a venv of the system Python under /opt/safetyd.
mount -t tmpfs tmpfs /opt
/usr/bin/python3 -m venv /opt/safetyd/venv
/opt/safetyd/venv/bin/pip install --quiet --disable-pip-version-check "$REPO" 2>&1 \
  | grep -v "^WARNING: Location" || true
test -x /opt/safetyd/venv/bin/safetyd
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /var/tmp
# systemd expects shared propagation, as on a real boot: credentials are mounted in
# a helper's namespace and must propagate back. Shared within this namespace only:
# unshare made every mount private to the host first.
mount --make-rshared /
echo "booting systemd"
exec /lib/systemd/systemd --system --unit=basic.target --log-target=console --log-level=warning
