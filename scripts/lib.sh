# Shared by scripts/demo and scripts/test: install what is missing, then build.
# Sourced, not run.
MVPROXY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MVPROXY_PACKAGES=(cmake ninja-build g++ pkg-config openssl curl
  libboost1.81-dev nlohmann-json3-dev libspdlog-dev libyaml-cpp-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev
  clang-tidy-14 clang-format-14
  prometheus nginx haproxy wrk procps ccache python3 python3-kubernetes
  libnghttp2-dev nghttp2-client python3-h2
  lintian help2man dpkg-dev file systemd man-db python3-yaml)

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

# ccache makes rebuilds (a fresh clone of the same tree, the ASan build after an
# edit) cheap: Boost.Beast translation units take minutes each on two cores. The base
# directory makes a clone in another folder hit the same cache entries.
export CCACHE_BASEDIR=$MVPROXY_ROOT CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
launcher() { command -v ccache >/dev/null && echo "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; }

# build DIR [cmake args...]; the build's output goes to DIR.log, shown on failure.
build() {
  local dir=$1; shift
  cmake -S "$MVPROXY_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(launcher) "$@" >/dev/null
  if ! cmake --build "$dir" -j"$(nproc)" >"$dir.log" 2>&1; then
    grep -E 'error|FAILED' -A5 "$dir.log" | head -60 >&2
    echo "build of $dir failed (full log: $dir.log)" >&2
    return 1
  fi
}
