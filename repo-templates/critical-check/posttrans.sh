# %posttrans of the -repos package: where systemd runs this system (not in an
# installroot or a container without it), load the new units and start the
# timer if it is enabled. --no-block: never wait inside the transaction (the
# check itself never waits for dnf's lock).
quiet() { if [ -c /dev/null ]; then "$@" >/dev/null 2>&1; else "$@"; fi; }
if [ -d /run/systemd/system ] && [ -x /usr/bin/systemctl ]; then
	quiet /usr/bin/systemctl daemon-reload || :
	if /usr/bin/systemctl --quiet is-enabled hotpush-critical-check.timer; then
		quiet /usr/bin/systemctl --no-block start hotpush-critical-check.timer || :
	fi
fi
exit 0
