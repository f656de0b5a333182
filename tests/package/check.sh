#!/usr/bin/env bash
# tests/package/check.sh BUILD_DIR — the installation and the Debian package (ctest label
# "package"; packaging/install.cmake makes both).
#
#  1. `cmake --install --prefix /usr` into a temporary DESTDIR: exactly the expected files
#     (binaries, unit, example configuration, credentials directory, docs; no test or fuzz
#     executable), the unit identical to systemd/runwayd.service, every path the unit
#     names present.
#  2. `cmake --install --prefix /usr/local`: the unit follows the prefix; a second install
#     keeps an edited configuration.
#  3. `cpack -G DEB`: dpkg-deb -I / -c / -e: name, version, architecture, dependencies
#     (every library the binaries link, and satisfiable on this machine), the same files,
#     root-owned, the conffile, the maintainer scripts.
#  4. As root: dpkg installs the package into a throwaway root (--root, maintainer scripts
#     run chrootless with DPKG_ROOT, so the machine is untouched): the postinst enabled
#     the unit (multi-user.target.wants symlink, `systemctl --root is-enabled`); a
#     reinstall keeps an administrator's `disable`; purge leaves nothing behind but API
#     keys an administrator put there.
#  5. Only with RUNWAYD_PACKAGE_TEST_SYSTEM=1, as root, runwayd not installed: dpkg -i on
#     this machine, `systemctl is-enabled runwayd`, dpkg --purge (also on any exit).
#
# Needs the build done (cpack runs the build's preinstall target, a no-op then), cmake,
# cpack, dpkg, dpkg-deb; exits 77 (skipped) without dpkg-deb. Everything goes into one
# temporary directory, removed on exit.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for tool in cmake cpack dpkg dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not found (Debian's dpkg, cmake)"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/runwayd-package.XXXXXX")
system_installed=0
cleanup() {
  if [ "$system_installed" -eq 1 ]; then
    dpkg --purge runwayd >/dev/null 2>&1 || echo "WARNING: dpkg --purge runwayd failed" >&2
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
same_list() {  # same_list WHAT EXPECTED_FILE ACTUAL_FILE
  if diff -u "$2" "$3" >"$tmp/diff"; then ok "$1"; else fail "$1:"; sed 's/^/       /' "$tmp/diff"; fi
}
section() { echo "== $*"; }

bins=(runwayd runwayctl runway-sim)
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[ -n "$version" ] || { echo "FAIL: no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"; exit 1; }

# The files of an installation with prefix P: expected_files P BINDIR UNITDIR CONFDIR DOCDIR
expected_files() {
  local b
  for b in "${bins[@]}"; do echo "$2/$b"; done
  echo "$3/runwayd.service"
  echo "$4/runwayd.toml"
  echo "$5/README.md"
  for b in "$src"/docs/*.md; do echo "$5/$(basename "$b")"; done
  echo "$5/alerts.yml"
  echo "$5/examples/runwayd.toml"
}

# What the unit names must be in ROOT: unit_paths ROOT UNIT BINDIR CONFDIR DOCDIR
unit_paths() {
  local root=$1 unit=$2 exec conf cred doc
  exec=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$unit")
  conf=$(sed -n 's/^ExecStart=.* --config \([^ ]*\)$/\1/p' "$unit")
  cred=$(sed -n 's/^LoadCredential=main:\(.*\)$/\1/p' "$unit")
  doc=$(sed -n 's|^Documentation=file://\(.*\)$|\1|p' "$unit")
  check "ExecStart is $3/runwayd, installed and executable" \
    test "$exec" = "$3/runwayd" -a -x "$root$exec"
  check "--config is $4/runwayd.toml, installed" test "$conf" = "$4/runwayd.toml" -a -f "$root$conf"
  check "LoadCredential= reads from $4/credentials (root, 0700)" \
    test "$cred" = "$4/credentials/main" -a "$(stat -c '%a %U' "$root$4/credentials" 2>/dev/null)" = "700 root"
  check "Documentation= is $5/operations.md, installed" test "$doc" = "$5/operations.md" -a -f "$root$doc"
}

installed_files() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort); }

start=$SECONDS

section "cmake --install --prefix /usr (DESTDIR)"
d=$tmp/destdir-usr
DESTDIR=$d cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log"; fail "cmake --install --prefix /usr"; exit 1; }
expected_files /usr /usr/bin /lib/systemd/system /etc/runwayd /usr/share/doc/runwayd | sort >"$tmp/expected-usr"
installed_files "$d" >"$tmp/actual-usr"
same_list "exactly the expected files (no test or fuzz executable)" "$tmp/expected-usr" "$tmp/actual-usr"
check "the unit is systemd/runwayd.service, unchanged" \
  cmp -s "$d/lib/systemd/system/runwayd.service" "$src/systemd/runwayd.service"
check "/etc/runwayd/runwayd.toml is systemd/runwayd.toml" \
  cmp -s "$d/etc/runwayd/runwayd.toml" "$src/systemd/runwayd.toml"
unit_paths "$d" "$d/lib/systemd/system/runwayd.service" /usr/bin /etc/runwayd /usr/share/doc/runwayd
check "runwayctl --version prints $version" test "$("$d/usr/bin/runwayctl" --version 2>/dev/null)" = "runwayctl $version"

section "cmake --install --prefix /usr/local (DESTDIR)"
d=$tmp/destdir-local
DESTDIR=$d cmake --install "$build" --prefix /usr/local >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log"; fail "cmake --install --prefix /usr/local"; exit 1; }
expected_files /usr/local /usr/local/bin /usr/local/lib/systemd/system /usr/local/etc/runwayd \
  /usr/local/share/doc/runwayd | sort >"$tmp/expected-local"
installed_files "$d" >"$tmp/actual-local"
same_list "exactly the expected files" "$tmp/expected-local" "$tmp/actual-local"
unit_paths "$d" "$d/usr/local/lib/systemd/system/runwayd.service" /usr/local/bin /usr/local/etc/runwayd \
  /usr/local/share/doc/runwayd
echo '# edited by the operator' >>"$d/usr/local/etc/runwayd/runwayd.toml"
DESTDIR=$d cmake --install "$build" --prefix /usr/local >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log"; fail "second cmake --install"; exit 1; }
check "a second install keeps the edited configuration" \
  grep -q '^# edited by the operator$' "$d/usr/local/etc/runwayd/runwayd.toml"
echo "     (${SECONDS}s so far)"

section "cpack -G DEB"
if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/cpack" >"$tmp/cpack.log" 2>&1; then
  cat "$tmp/cpack.log"; find "$tmp/cpack" -name '*.log' -exec cat {} + 2>/dev/null || true
  fail "cpack -G DEB"; exit 1
fi
arch=$(dpkg --print-architecture)
deb=$tmp/cpack/runwayd_${version}_${arch}.deb
check "cpack made $(basename "$deb")" test -f "$deb"
[ -f "$deb" ] || { cat "$tmp/cpack.log"; exit 1; }
echo "     (${SECONDS}s so far)"

field() { dpkg-deb -f "$deb" "$1"; }
check "Package: runwayd" test "$(field Package)" = runwayd
check "Version: $version" test "$(field Version)" = "$version"
check "Architecture: $arch" test "$(field Architecture)" = "$arch"
check "Maintainer set" test -n "$(field Maintainer)"
check "Description set" test -n "$(field Description)"
depends=$(field Depends)
echo "     Depends: $depends"

# Every library the binaries link directly comes from a package named in Depends.
dpkg-deb -x "$deb" "$tmp/data"
pkg_of() {  # the package that holds a file, following /lib -> /usr/lib and symlinks
  local p
  p=$(dpkg -S "$1" 2>/dev/null | awk 'NR == 1') || p=$(dpkg -S "$(readlink -f "$1")" 2>/dev/null | awk 'NR == 1') || p=""
  echo "${p%%:*}"
}
ldconfig -p >"$tmp/ldcache"
needed_pkgs=$(
  for b in "${bins[@]}"; do
    readelf -d "$tmp/data/usr/bin/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'
  done | sort -u | while read -r so; do
    path=$(awk -v so="$so" '$1 == so {print $NF; exit}' "$tmp/ldcache")
    pkg=""
    [ -z "$path" ] || pkg=$(pkg_of "$path")
    echo "${pkg:-?$so}"
  done | sort -u)
# Names Depends lists (without versions), and what the installed packages provide.
dep_names=" $(tr ',|' '\n\n' <<<"$depends" | awk '{print $1}' | tr '\n' ' ') "
dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' | awk -F'|' '$1 ~ /^ii/' >"$tmp/installed"
provides_of() {  # provides_of PKG: the virtual packages an installed PKG provides
  awk -F'|' -v p="$1" '$2 == p {print $3}' "$tmp/installed" | tr ',' '\n' | awk 'NF {print $1}'
}
missing=""
for p in $needed_pkgs; do
  found=0
  for n in "$p" $(provides_of "$p"); do
    [[ $dep_names == *" $n "* ]] && found=1
  done
  [ "$found" -eq 1 ] || missing="$missing $p"
done
check "Depends names the package of every linked library ($(echo $needed_pkgs | tr ' ' ','))" test -z "$missing"
[ -z "$missing" ] || echo "     missing:$missing"

# Depends is satisfiable here (each clause: one alternative installed at a fitting version).
unsatisfied=""
IFS=',' read -ra clauses <<<"$depends"
for clause in "${clauses[@]}"; do
  sat=0
  IFS='|' read -ra alts <<<"$clause"
  for alt in "${alts[@]}"; do
    name=$(awk '{print $1}' <<<"$alt"); name=${name%%:*}
    have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null | awk '$3 == "installed" {print $4}')
    if [ -z "$have" ]; then
      # A virtual package: an installed package provides it (unversioned only).
      [[ $alt != *"("* ]] && awk -F'|' '{print $3}' "$tmp/installed" | tr ',' '\n' | awk '{print $1}' \
        | grep -xF "$name" >/dev/null && { sat=1; break; }
      continue
    fi
    if [[ $alt =~ \(([<>=]+)\ *([^\)]+)\) ]]; then
      op=${BASH_REMATCH[1]}; want=${BASH_REMATCH[2]}
      case $op in '>=') op=ge ;; '<=') op=le ;; '>>') op=gt ;; '<<') op=lt ;; '=') op=eq ;; esac
      dpkg --compare-versions "$have" "$op" "$want" || continue
    fi
    sat=1; break
  done
  [ "$sat" -eq 1 ] || unsatisfied="$unsatisfied [$clause]"
done
check "Depends is satisfied on this machine" test -z "$unsatisfied"
[ -z "$unsatisfied" ] || echo "     unsatisfied:$unsatisfied"

# The package's files: the /usr installation's, owned by root; the credentials directory 0700.
dpkg-deb -c "$deb" >"$tmp/contents"
awk '$1 !~ /^d/ {print $6}' "$tmp/contents" | sed 's|^\./|/|' | sort >"$tmp/actual-deb"
same_list "the package holds exactly the /usr installation's files" "$tmp/expected-usr" "$tmp/actual-deb"
check "every entry owned by root/root" test -z "$(awk '$2 != "root/root"' "$tmp/contents")"
check "/etc/runwayd/credentials/ is drwx------" \
  grep -Eq '^drwx------ root/root .* \./etc/runwayd/credentials/$' "$tmp/contents"
for b in "${bins[@]}"; do
  check "/usr/bin/$b is -rwxr-xr-x" grep -Eq "^-rwxr-xr-x root/root .* \./usr/bin/$b\$" "$tmp/contents"
done
check "the binaries are stripped (CPACK_STRIP_FILES)" \
  test -z "$(readelf -S "$tmp/data/usr/bin/runwayd" | grep -F .debug_info)"

dpkg-deb -e "$deb" "$tmp/control"
check "conffiles is exactly /etc/runwayd/runwayd.toml" \
  test "$(cat "$tmp/control/conffiles" 2>/dev/null)" = /etc/runwayd/runwayd.toml
for s in postinst prerm postrm; do
  check "$s: present, 0755, cmp packaging/$s, sh -n" eval \
    '[ "$(stat -c %a "$tmp/control/$s" 2>/dev/null)" = 755 ] && cmp -s "$tmp/control/$s" "$src/packaging/$s" && sh -n "$tmp/control/$s"'
done
check "postinst enables the unit (deb-systemd-helper enable)" \
  grep -Eq '^ *deb-systemd-helper enable "\$unit"' "$tmp/control/postinst"
echo "     (${SECONDS}s so far)"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP dpkg installs (need root)"
else
  section "dpkg -i into a throwaway root (maintainer scripts chrootless, DPKG_ROOT)"
  r=$tmp/root
  mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers"
  : >"$r/var/lib/dpkg/status"
  : >"$r/var/lib/dpkg/available"
  rdpkg() { dpkg --root="$r" --force-script-chrootless --force-depends --log=/dev/null "$@"; }
  wants=$r/etc/systemd/system/multi-user.target.wants/runwayd.service
  enabled() { systemctl --root="$r" is-enabled runwayd.service 2>/dev/null || true; }
  if rdpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then ok "dpkg -i"; else cat "$tmp/dpkg.log"; fail "dpkg -i"; fi
  check "dpkg: installed" \
    test "$(dpkg-query --admindir="$r/var/lib/dpkg" -W -f='${Status}' runwayd 2>/dev/null)" = "install ok installed"
  check "dpkg: conffile registered" \
    grep -q '^ /etc/runwayd/runwayd.toml [0-9a-f]\{32\}$' \
      <(dpkg-query --admindir="$r/var/lib/dpkg" -W -f='${Conffiles}\n' runwayd 2>/dev/null)
  check "postinst said how to start it (not started on a first install)" grep -q 'enabled but not started' "$tmp/dpkg.log"
  if command -v deb-systemd-helper >/dev/null || command -v systemctl >/dev/null; then
    check "postinst enabled it: multi-user.target.wants/runwayd.service -> /lib/systemd/system/runwayd.service" \
      test "$(readlink "$wants" 2>/dev/null)" = /lib/systemd/system/runwayd.service
  else
    echo "SKIP enablement (neither deb-systemd-helper nor systemctl here: the postinst has nothing to enable with)"
  fi
  if command -v systemctl >/dev/null; then
    check "systemctl --root is-enabled runwayd: enabled" test "$(enabled)" = enabled
  fi
  check "/etc/runwayd/credentials is root's, 0700" test "$(stat -c '%a %U' "$r/etc/runwayd/credentials")" = "700 root"

  # An upgrade (here a reinstall) respects an administrator's `systemctl disable`.
  if command -v systemctl >/dev/null; then
    systemctl --root="$r" disable runwayd.service >/dev/null 2>&1
    rdpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i (reinstall)"; }
    check "a reinstall keeps it disabled" test "$(enabled)" = disabled -a ! -e "$wants"
    systemctl --root="$r" enable runwayd.service >/dev/null 2>&1
  fi

  # Purge with an API key in place: the key stays, everything else goes.
  ( umask 077; echo key_for_the_test >"$r/etc/runwayd/credentials/main" )
  if rdpkg --purge runwayd >"$tmp/dpkg.log" 2>&1; then ok "dpkg --purge"; else cat "$tmp/dpkg.log"; fail "dpkg --purge"; fi
  check "dpkg: not installed" \
    test -z "$(dpkg-query --admindir="$r/var/lib/dpkg" -W -f='${Status}' runwayd 2>/dev/null | grep -v not-installed || true)"
  check "purge kept the API key, with a note" \
    test -f "$r/etc/runwayd/credentials/main" -a -n "$(grep 'left /etc/runwayd/credentials' "$tmp/dpkg.log")"
  rm -f "$r/etc/runwayd/credentials/main"

  # Again, without a key: nothing may remain outside dpkg's own database.
  rdpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i (again)"; }
  rdpkg --purge runwayd >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg --purge (again)"; }
  (cd "$r" && find . -mindepth 1 \( -type f -o -type l \) -not -path './var/lib/dpkg/*' | sort) >"$tmp/left"
  : >"$tmp/none"
  same_list "purge left no file or symlink (enablement, deb-systemd-helper state, /etc/runwayd)" "$tmp/none" "$tmp/left"
  check "purge removed /etc/runwayd" test ! -e "$r/etc/runwayd"

  if [ "${RUNWAYD_PACKAGE_TEST_SYSTEM:-0}" = 1 ]; then
    section "dpkg -i on this machine (RUNWAYD_PACKAGE_TEST_SYSTEM=1)"
    if dpkg-query -W -f='${Status}' runwayd 2>/dev/null | grep -q 'install ok'; then
      fail "runwayd is already installed here: not touching it"
    else
      system_installed=1
      if dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then ok "dpkg -i (dependencies satisfied)"; else cat "$tmp/dpkg.log"; fail "dpkg -i"; fi
      check "systemctl is-enabled runwayd: enabled" test "$(systemctl is-enabled runwayd 2>/dev/null)" = enabled
      check "enablement symlink" test -L /etc/systemd/system/multi-user.target.wants/runwayd.service
      if dpkg --purge runwayd >"$tmp/dpkg.log" 2>&1; then ok "dpkg --purge"; system_installed=0
      else cat "$tmp/dpkg.log"; fail "dpkg --purge"; fi
      check "purged: no symlink, no /etc/runwayd, no /usr/bin/runwayd" \
        test ! -e /etc/systemd/system/multi-user.target.wants/runwayd.service -a ! -e /etc/runwayd -a ! -e /usr/bin/runwayd
    fi
  fi
fi

echo "== $failures failure(s), $((SECONDS - start))s"
[ "$failures" -eq 0 ]
