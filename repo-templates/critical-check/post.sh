# %post of the -repos package. Enables the critical check's timer once: on the
# first install and on the upgrade from an earlier -repos package that had no
# timer. The marker keeps it from running again, so an administrator's
# `systemctl disable` stays. Where systemd is not installed (yet), systemd's
# own first-install `systemctl preset-all` applies 90-hotpush.preset later.
# Shell builtins and systemctl only (rpm-ostree runs no Lua scriptlets), and
# no /dev/null needed (a bare installroot has none).
# %preun writes `erased` into the marker on erase (no `rm`: coreutils may not
# be in the root), so a later install enables the timer again.
quiet() { if [ -c /dev/null ]; then "$@" >/dev/null 2>&1; else "$@"; fi; }
marker=/var/lib/hotpush/critical-check/timer-enabled-by-package
state=absent
[ -f "$marker" ] && { read -r state <"$marker" || :; }
if [ "$state" = absent ] || [ "$state" = erased ]; then
	if [ -x /usr/bin/systemctl ]; then
		quiet /usr/bin/systemctl --no-reload preset hotpush-critical-check.timer || :
	fi
	echo enabled >"$marker" || :
fi
exit 0
