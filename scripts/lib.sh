# Shared by scripts/demo and scripts/test: install what is missing, then build.
# Sourced, not run.
MVPROXY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MVPROXY_PACKAGES=(cmake ninja-build g++ pkg-config openssl curl
  libboost1.81-dev nlohmann-json3-dev libspdlog-dev libyaml-cpp-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev
  prometheus nginx haproxy wrk procps)

ensure_packages() {
  local missing=()
  for p in "${MVPROXY_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "run as root to install packages" >&2; exit 2; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # Packages with services (nginx, prometheus) must not start them here.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

# build DIR [cmake args...]
build() {
  local dir=$1; shift
  cmake -S "$MVPROXY_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}
