#!/usr/bin/env bash
# Check the release files of VERSION in DIR (default: dist/ beside this
# repository's go.mod) with the real tools, as CI does:
#
#   go run ./internal/release --version 1.2.3 && internal/release/check.sh 1.2.3
#
# - sha256sum -c of zenpatch-VERSION.sha256, which names the three files
# - the static binary runs and prints VERSION
# - RPM: rpm -qpi, rpm -qpl (the exact file list), no dependencies, nothing
#   rpm 4.8 (RHEL/CentOS 6) cannot read: payload gzip or xz (never zstd),
#   file digests MD5/SHA-1/SHA-256, no rpmlib() feature newer than 4.8;
#   rpm -Kv passes the header SHA-1 and MD5 digests rpm 4.8 checks;
#   rpm2cpio | cpio -idm extracts a binary that runs and prints VERSION;
#   as root, rpm -i into a scratch --root, rpm -V, rpm -e
# - .deb: dpkg-deb -I and -c; as root, dpkg -i, zenpatch version, man
#   zenpatch, the bash completion, dpkg -r (skipped when a zenpatch package
#   is installed already, so yours is left alone)
#
# Missing tools (rpm, rpm2cpio, cpio, man-db) are installed with apt-get.
set -euo pipefail

usage() { echo "usage: $0 VERSION [DIR]" >&2; exit 64; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
version=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=${2:-$here/../../dist}
dir=$(cd "$dir" && pwd)

passed=0
ok() { passed=$((passed + 1)); echo "check: ok: $*"; }
fail() { echo "check: FAIL: $*" >&2; echo "$passed passed, 1 failed"; exit 1; }
root() { [ "$(id -u)" -eq 0 ]; }

# --- tools ---------------------------------------------------------------
need=()
for p in rpm:rpm rpm2cpio:rpm2cpio cpio:cpio man:man-db dpkg-deb:dpkg sha256sum:coreutils; do
  command -v "${p%%:*}" >/dev/null 2>&1 || need+=("${p#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  root || fail "missing ${need[*]}; install them (apt-get install -y ${need[*]}) or run as root"
  echo "check: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

# --- the files ----------------------------------------------------------
sums=$dir/zenpatch-$version.sha256
[ -f "$sums" ] || fail "$sums not found: build first with: go run ./internal/release --version $version --out $dir"
(cd "$dir" && sha256sum --quiet -c "$(basename "$sums")") || fail "sha256sum -c $sums"
bin=$dir/$(awk '$2 ~ /-linux-amd64$/ {print $2}' "$sums")
rpmf=$dir/$(awk '$2 ~ /\.x86_64\.rpm$/ {print $2}' "$sums")
debf=$dir/$(awk '$2 ~ /_amd64\.deb$/ {print $2}' "$sums")
for f in "$bin" "$rpmf" "$debf"; do [ -f "$f" ] || fail "$sums does not name all three files"; done
ok "sha256sum -c $(basename "$sums"): $(basename "$bin"), $(basename "$rpmf"), $(basename "$debf")"

# check_version BINARY: it runs and prints VERSION.
check_version() {
  local out
  out=$("$1" version) || fail "$1 version exited $?"
  case $out in
    "zenpatch $version (commit "*) ok "$1 version: $out" ;;
    *) fail "$1 version printed '$out', not 'zenpatch $version (commit …'" ;;
  esac
}
check_version "$bin"

# --- RPM ----------------------------------------------------------------
echo "== rpm -qpi $(basename "$rpmf")"
rpm -qpi "$rpmf"
echo "== rpm -qpl -v"
rpm -qpl -v "$rpmf"
read -r compressor flags < <(rpm -qp --qf '%{PAYLOADCOMPRESSOR} %{PAYLOADFLAGS}\n' "$rpmf")
echo "payload: $compressor $flags"
case $compressor in
  gzip | xz) ok "rpm payload compressor $compressor (rpm 4.8 reads it)" ;;
  zstd) fail "rpm payload is zstd: rpm before 4.14 (RHEL/CentOS 6 and 7) cannot read it" ;;
  *) fail "rpm payload compressor '$compressor': want gzip or xz" ;;
esac
# PGPHASHALGO: 1 MD5, 2 SHA-1, 8 SHA-256, 9 SHA-384, 10 SHA-512, all in rpm 4.8.
for algo in $(rpm -qp --qf '%{FILEDIGESTALGO} %{PAYLOADDIGESTALGO}\n' "$rpmf"); do
  case $algo in
    1 | 2 | 8 | 9 | 10 | '(none)') ;;
    *) fail "rpm digest algorithm $algo is not one rpm 4.8 knows" ;;
  esac
done
ok "rpm file digests: algorithm $(rpm -qp --qf '%{FILEDIGESTALGO}' "$rpmf") (8 = SHA-256, rpm 4.6+)"

# rpm 4.8.0's rpmlib() features (lib/rpmds.c, rpmlibProvides).
rpm48=' VersionedDependencies CompressedFileNames PayloadIsBzip2 PayloadIsXz PayloadIsLzma PayloadFilesHavePrefix ExplicitPackageProvide HeaderLoadSortsTags ScriptletInterpreterArgs PartialHardlinkSets ConcurrentAccess BuiltinLuaScripts FileDigests FileCaps '
while read -r req; do
  [ -n "$req" ] || continue
  case $req in
    'rpmlib('*')')
      feature=${req#rpmlib(}
      feature=${feature%)}
      case $rpm48 in *" $feature "*) ;; *) fail "the rpm needs $req, which rpm 4.8 lacks" ;; esac
      ;;
    *) fail "the rpm requires '$req': it should need nothing (static binary)" ;;
  esac
done < <(rpm -qp --qf '[%{REQUIRENAME}\n]' "$rpmf")
ok "rpm requires nothing rpm 4.8 lacks, and no package"

[ "$(rpm -qp --qf '%{NAME} %{ARCH} %{OS}' "$rpmf")" = "zenpatch x86_64 linux" ] || fail "rpm name/arch/os"
want_files='/etc/bash_completion.d/zenpatch
/usr/bin/zenpatch
/usr/share/doc/zenpatch
/usr/share/doc/zenpatch/README.md
/usr/share/man/man1/zenpatch.1.gz'
[ "$(rpm -qpl "$rpmf")" = "$want_files" ] || fail "rpm -qpl: $(rpm -qpl "$rpmf" | tr '\n' ' ')"
ok "rpm: name, arch, the five paths"

kv=$(rpm -Kv "$rpmf") || fail "rpm -Kv: $kv"
echo "$kv"
for d in 'Header SHA1 digest: OK' 'MD5 digest: OK' 'Payload SHA256 digest: OK'; do
  grep -qF "$d" <<<"$kv" || fail "rpm -Kv lacks '$d'"
done
ok "rpm -Kv: header SHA-1 and MD5 (what rpm 4.8 checks) and payload SHA-256 OK"

# Members must be ./relative, as rpmbuild writes them: absolute ones would
# make the cpio -idm below write into / itself.
rpm2cpio "$rpmf" | cpio -t --quiet >"$tmp/members" || fail "rpm2cpio | cpio -t"
if grep -v '^\./' "$tmp/members"; then fail "the rpm payload has members not under ./ (above)"; fi
mkdir "$tmp/cpio"
(cd "$tmp/cpio" && rpm2cpio "$rpmf" | cpio -idm --quiet) || fail "rpm2cpio | cpio -idm"
check_version "$tmp/cpio/usr/bin/zenpatch"
gzip -t "$tmp/cpio/usr/share/man/man1/zenpatch.1.gz" || fail "man page is not gzip"
bash -n "$tmp/cpio/etc/bash_completion.d/zenpatch" || fail "completion script: bash -n"
ok "rpm2cpio | cpio -idm: ./-relative members, binary runs, man page and completion sound"

if root; then
  force=()
  if rpm --help 2>&1 | grep -q -- --force-debian; then force=(--force-debian); fi
  r=$tmp/rpmroot
  mkdir "$r"
  rpm --root "$r" --initdb
  rpm --root "$r" -i "${force[@]}" "$rpmf" || fail "rpm -i --root"
  check_version "$r/usr/bin/zenpatch"
  rpm --root "$r" -V zenpatch || fail "rpm -V: installed files differ from the package's digests"
  rpm --root "$r" -e zenpatch || fail "rpm -e"
  for f in $want_files; do [ ! -e "$r$f" ] || fail "rpm -e left $f"; done
  ok "rpm -i --root, rpm -V, rpm -e: installed, verified, removed without a trace"
else
  echo "check: skipped rpm -i --root (not root)"
fi

# --- deb ----------------------------------------------------------------
echo "== dpkg-deb -I $(basename "$debf")"
dpkg-deb -I "$debf"
echo "== dpkg-deb -c"
dpkg-deb -c "$debf"
[ "$(dpkg-deb -f "$debf" Package)" = zenpatch ] || fail "deb Package"
[ "$(dpkg-deb -f "$debf" Architecture)" = amd64 ] || fail "deb Architecture"
[ -z "$(dpkg-deb -f "$debf" Depends)" ] || fail "deb Depends: $(dpkg-deb -f "$debf" Depends)"
list=$(dpkg-deb -c "$debf")
for p in ./usr/bin/zenpatch ./usr/share/doc/zenpatch/README.md ./usr/share/man/man1/zenpatch.1.gz ./usr/share/bash-completion/completions/zenpatch; do
  grep -q " $p\$" <<<"$list" || fail "deb lacks $p"
done
ok "deb: fields, no dependencies, the four files"

if ! root; then
  echo "check: skipped dpkg -i (not root)"
elif dpkg-query -W -f='${Status}' zenpatch 2>/dev/null | grep -q 'install ok installed'; then
  echo "check: skipped dpkg -i (a zenpatch package is installed already; left alone)"
else
  dpkg -i "$debf" >/dev/null || fail "dpkg -i"
  check_version /usr/bin/zenpatch
  [ "$(man -w zenpatch)" = /usr/share/man/man1/zenpatch.1.gz ] || fail "man -w zenpatch: $(man -w zenpatch 2>&1)"
  page=$(MANWIDTH=100 MANPAGER=cat man zenpatch 2>/dev/null) || fail "man zenpatch"
  grep -q 'zenpatch hook install|uninstall' <<<"$page" || fail "man zenpatch does not show the hook command"
  comp=$(bash --norc --noprofile -c 'source /usr/share/bash-completion/completions/zenpatch && complete -p zenpatch')
  [ "$comp" = "complete -F _zenpatch zenpatch" ] || fail "completion: '$comp'"
  dpkg -r zenpatch >/dev/null || fail "dpkg -r"
  for f in /usr/bin/zenpatch /usr/share/doc/zenpatch /usr/share/man/man1/zenpatch.1.gz /usr/share/bash-completion/completions/zenpatch; do
    [ ! -e "$f" ] || fail "dpkg -r left $f"
  done
  ok "dpkg -i, zenpatch version, man zenpatch, complete -p zenpatch, dpkg -r"
fi

echo "$passed passed, 0 failed"
