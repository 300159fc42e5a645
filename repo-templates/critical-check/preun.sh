# %preun of the -repos package: on erase (not on upgrade) stop and disable the
# timer and forget that the package enabled it, so a later install enables it.
quiet() { if [ -c /dev/null ]; then "$@" >/dev/null 2>&1; else "$@"; fi; }
if [ "$1" = 0 ]; then
	if [ -x /usr/bin/systemctl ]; then
		if [ -d /run/systemd/system ]; then
			quiet /usr/bin/systemctl --no-reload disable --now hotpush-critical-check.timer || :
		else
			quiet /usr/bin/systemctl --no-reload disable hotpush-critical-check.timer || :
		fi
	fi
	marker=/var/lib/hotpush/critical-check/timer-enabled-by-package
	[ -f "$marker" ] && { echo erased >"$marker" || :; }
fi
exit 0
