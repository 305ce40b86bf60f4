#!/usr/bin/env bash
# dnf-transaction.sh ZENPATCH: the hook under a real package manager.
#
# Builds two stand-in zenoss rpms (4.2.5-1 and 4.2.5-2; payload: the
# zenoss-4.2.5 vendor fixture under /opt/zenoss, owned by nobody as a real
# install is owned by zenoss), installs the first with dnf into a scratch
# --installroot, runs 'ZENPATCH hook install --root INSTALLROOT --user
# nobody', then upgrades to the second with dnf and its
# post-transaction-actions plugin on. The upgrade puts the vendor's
# bin/zopectl back, exactly as on a real host; the action must patch it
# again (ZOPES= in bin/zopectl, 'applied' in the install's log), through
# the real util-linux runuser.
#
# Needs (Debian): dnf, dnf-plugins-core (post-transaction-actions) and
# rpm (rpmbuild); run as root. Exits 77 when a tool is missing.
# Debian's plugin calls libdnf.conf.ConfigParser_substitute, which Debian's
# libdnf names ConfigParser.substitute: a sitecustomize.py on PYTHONPATH
# adds the alias for this run only.
set -euo pipefail

zp=${1:?usage: dnf-transaction.sh /abs/path/to/zenpatch}
case $zp in /*) ;; *) zp=$PWD/$zp ;; esac
here=$(cd "$(dirname "$0")" && pwd)
fixture=$here/../../../patches/vendor/zenoss-4.2.5

for tool in dnf rpmbuild rpm runuser; do
	command -v "$tool" >/dev/null || { echo "dnf-transaction: skipped: no $tool" >&2; exit 77; }
done
plugin=$(/usr/bin/python3 -c 'import dnf, os; print(os.path.dirname(dnf.__file__))' 2>/dev/null)/../dnf-plugins/post-transaction-actions.py
[ -f "$plugin" ] || { echo "dnf-transaction: skipped: no dnf post-transaction-actions plugin (dnf-plugins-core)" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "dnf-transaction: skipped: needs root" >&2; exit 77; }

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
chmod 755 "$t" # the action runs as nobody, who must reach ZENHOME
# The install root's name holds ; space quotes and #: the action line
# must quote it so that nothing else runs (checked at the end).
root="$t/root;touch PWNED;# \"q\" 'x'" home="$root/opt/zenoss"
mkdir "$root"

# Two rpms from one spec; the release tells them apart.
mkdir -p "$t/src/opt/zenoss"
cp -a "$fixture/." "$t/src/opt/zenoss/"
cat >"$t/zenoss.spec" <<'EOF'
Name: zenoss
Version: 4.2.5
Release: %{rel}
Summary: stand-in for Zenoss Core (zenpatch's hook test)
License: GPLv2
BuildArch: noarch
AutoReqProv: no
%description
Stand-in: the files of Zenoss Core 4.2.5 zenpatch reads.
%install
cp -a %{src}/. %{buildroot}/
%files
%defattr(-,nobody,nogroup,-)
/opt/zenoss
EOF
for rel in 1 2; do
	rpmbuild --quiet --define "_topdir $t/rpmbuild" --define "rel $rel" --define "src $t/src" -bb "$t/zenoss.spec"
done
rpm1=$t/rpmbuild/RPMS/noarch/zenoss-4.2.5-1.noarch.rpm
rpm2=$t/rpmbuild/RPMS/noarch/zenoss-4.2.5-2.noarch.rpm

# The install root, as a system image would have it: users (for the
# rpm's owner and --user), dnf and its plugin's conf. The dnf that runs
# here is the host's, so its plugin reads a conf of its own (in $t/conf)
# pointing at the action directory 'hook install' writes under the root.
mkdir -p "$root/etc/dnf/plugins" "$root/usr/bin" "$t/conf"
cp /etc/passwd /etc/group "$root/etc/"
ln -s /usr/bin/dnf "$root/usr/bin/dnf"
printf '[main]\nenabled = 1\nactiondir = /etc/dnf/plugins/post-transaction-actions.d/\n' \
	>"$root/etc/dnf/plugins/post-transaction-actions.conf"
printf '[main]\nenabled = 1\nactiondir = %s/etc/dnf/plugins/post-transaction-actions.d/\n' "$root" \
	>"$t/conf/post-transaction-actions.conf"
mkdir -p "$t/py"
cat >"$t/py/sitecustomize.py" <<'EOF'
import libdnf.conf
if not hasattr(libdnf.conf, "ConfigParser_substitute"):
    libdnf.conf.ConfigParser_substitute = libdnf.conf.ConfigParser.substitute
EOF

dnf_() {
	PYTHONPATH=$t/py dnf -y --installroot="$root" --releasever=8 --disablerepo='*' \
		--setopt=reposdir=/dev/null --setopt=pluginconfpath="$t/conf" \
		--setopt=cachedir="$t/cache" \
		--disableplugin='*' --enableplugin=post-transaction-actions "$@"
}

echo "dnf-transaction: install zenoss-4.2.5-1 (no hook yet)"
dnf_ install "$rpm1"
grep -q '^ZOPES=' "$home/bin/zopectl" && { echo "FAIL: the vendor zopectl is already patched" >&2; exit 1; }

echo "dnf-transaction: hook install --root $root --user nobody"
"$zp" hook install --zenhome "$home" --root "$root" --user nobody --zenpatch "$zp" 2>"$t/hook.err"
cat "$t/hook.err" >&2
if grep -q warning "$t/hook.err"; then echo "FAIL: hook install warned on a root with the plugin enabled" >&2; exit 1; fi
cat "$root/etc/dnf/plugins/post-transaction-actions.d/zenpatch.action"

echo "dnf-transaction: upgrade to zenoss-4.2.5-2"
(cd "$t" && dnf_ upgrade "$rpm2") 2>&1 | tee "$t/dnf.out"
rpm --root "$root" -q zenoss | grep -qx 'zenoss-4.2.5-2.noarch' || { echo "FAIL: zenoss-4.2.5-2 is not installed" >&2; exit 1; }
if ! grep -q '^ZOPES=' "$home/bin/zopectl"; then
	echo "FAIL: after the upgrade, bin/zopectl is not patched: the action did not run or failed" >&2
	cat "$home/log/zenpatch.log" >&2 2>/dev/null || true
	exit 1
fi
grep -q 'msg=applied cmd=upgrade patch=zenoss4-multizope-v2' "$home/log/zenpatch.log" ||
	{ echo "FAIL: no 'applied' in $home/log/zenpatch.log" >&2; exit 1; }
owner=$(stat -c %U "$home/var/zenpatch/state.json")
[ "$owner" = nobody ] || { echo "FAIL: the action ran as $owner, not nobody" >&2; exit 1; }
for d in "$t" "$root" /tmp "$PWD"; do
	[ ! -e "$d/PWNED" ] || { echo "FAIL: $d/PWNED exists: the install root's name ran as a command" >&2; exit 1; }
done
echo "dnf-transaction: ok: dnf's action re-applied the patch after the upgrade, as nobody, with ZENHOME $home"
