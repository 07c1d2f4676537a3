#!/usr/bin/env bash
# Installs what the test suite needs beyond Go, when missing. As root on Debian it uses
# apt-get; otherwise it says what is missing and the tests that need it skip.
set -euo pipefail
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# Debian's AWS CLI v2.9 (/usr/bin/aws) for the CLI compatibility tests; the newer v1 `aws`
# comes with the machine image when present.
[ -x /usr/bin/aws ] || need+=(awscli)
if [ ${#need[@]} -eq 0 ]; then
  echo "deps: all present"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "deps: missing ${need[*]} (run as root on Debian to install); tests that need them will skip"
fi
