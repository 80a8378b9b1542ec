#!/usr/bin/env bash
# Makes this machine able to build and test mtfuse. Idempotent: a second run
# only checks, and takes seconds. Writes target/toolchain.env, which the other
# scripts source to build wasm the same way.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
die() { printf '\033[1;31msetup: %s\033[0m\n' "$*" >&2; exit 1; }

need_cmd() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
  # Installs Debian packages that are missing; fails with the package names.
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_cmd apt-get || die "needs Debian packages ${missing[*]}, but apt-get is not available; install them by hand"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && { need_cmd sudo || die "needs root or sudo to install ${missing[*]}"; sudo=sudo; }
  say "installing ${missing[*]} (apt)"
  if [ ! -f target/.apt-updated ]; then $sudo apt-get update -qq >/dev/null || die "apt-get update failed; cannot install ${missing[*]}"; mkdir -p target; touch target/.apt-updated; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

mkdir -p target
need_cmd cargo || die "cargo not found: install Rust from https://rustup.rs"
need_cmd node || die "node not found: install Node.js 20 or newer"
need_cmd npm || die "npm not found: install Node.js 20 or newer"

# 1. A wasm32 standard library: rustup's if possible, else Debian's source build.
route=""
if [ "${MTFUSE_WASM_ROUTE:-}" != debian ] && need_cmd rustup; then
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    route=rustup
  elif timeout 300 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
    route=rustup
  fi
fi
if [ -z "$route" ]; then
  say "rustup cannot provide the wasm32 std; using Debian's rustc-web with -Zbuild-std"
  apt_install rustc-web cargo-web rust-web-src lld-22
  [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ] || die "rustc-web/rust-web-src installed but /usr/bin/cargo or the std source is missing"
  [ -x /usr/lib/llvm-22/bin/wasm-ld ] || die "lld-22 installed but /usr/lib/llvm-22/bin/wasm-ld is missing"
  route=debian
fi
cat > target/toolchain.env <<ENV
# written by scripts/setup.sh
MTFUSE_WASM_ROUTE=$route
ENV
say "wasm32 route: $route"

# 2. wasm-bindgen-cli at exactly the version in Cargo.lock.
[ -f Cargo.lock ] || cargo generate-lockfile -q
wb=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
[ -n "$wb" ] || die "Cargo.lock has no wasm-bindgen entry"
if ! { need_cmd wasm-bindgen && [ "$(wasm-bindgen --version | awk '{print $2}')" = "$wb" ] && need_cmd wasm-bindgen-test-runner; }; then
  say "installing wasm-bindgen-cli $wb (cargo install, a few minutes)"
  cargo install -q wasm-bindgen-cli --version "=$wb" || die "cargo install wasm-bindgen-cli =$wb failed"
fi

# 3. Node packages, exactly as locked.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing node packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed"
fi

# 4. Chromium and its driver for browser tests.
if ! { need_cmd chromium && need_cmd chromedriver; }; then
  apt_install chromium chromium-driver
fi
need_cmd chromium || die "chromium is still missing after install"

# 5. A Python environment, pinned: NumPy and Python's safetensors for
# examples/pack_from_numpy.py; DuckDB, pyarrow and pyspark (with the pandas
# its Arrow functions need) for the ETL job in etl/.
py=target/py/bin/python
if ! "$py" -c "import numpy, safetensors, duckdb, pyarrow, pandas, pyspark" >/dev/null 2>&1; then
  [ -x "$py" ] || python3 -m venv target/py 2>/dev/null || { apt_install python3-venv; python3 -m venv target/py; } || die "cannot create a Python venv in target/py"
  say "installing numpy, safetensors, duckdb, pyarrow, pandas and pyspark (pip, into target/py)"
  target/py/bin/pip install -q --disable-pip-version-check numpy==2.4.6 safetensors==0.8.0 duckdb==2.0.0 pyarrow==26.0.1 pandas==2.3.3 pyspark==4.3.0 || die "pip install of the Python packages failed"
fi

# 6. Java 17 or later for Spark's local mode (the ETL job's cluster engine).
if ! java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])'; then
  apt_install openjdk-17-jre-headless
fi
java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])' || die "Java 17 or later is still missing after install"
say "ready"
