#!/usr/bin/env bash
# Installs the system packages the test suite runs for real (Debian; as root).
# Tests start their own private servers; this only makes sure the binaries exist.
set -euo pipefail
need=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
command -v redis-server >/dev/null 2>&1 || need="$need redis-server"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx"
command -v prometheus >/dev/null 2>&1 || need="$need prometheus"
# The fleet's tests: HAProxy as the router, an OpenSSH server per fake host.
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need="$need haproxy"
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
# The dashboard's browser tests (Playwright drives this browser; nothing is downloaded).
command -v chromium >/dev/null 2>&1 || need="$need chromium"
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: missing:$need (run as root, or install them)" >&2
    exit 1
  fi
  apt-get update -qq
  # --no-install-recommends: prometheus recommends node-exporter and its disk and IPMI tools.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi
