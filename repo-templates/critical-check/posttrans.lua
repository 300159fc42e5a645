-- %posttrans of the -repos package: where systemd runs this system (not in an
-- installroot or a container without it), load the new units and start the
-- timer if it is enabled. --no-block: never wait inside the transaction; the
-- check itself never waits for dnf's lock.
local unit = "hotpush-critical-check.timer"
local systemctl = "/usr/bin/systemctl"
if posix.stat("/run/systemd/system", "type") == "directory" and posix.access(systemctl, "x") then
  rpm.execute(systemctl, "daemon-reload")
  if rpm.execute(systemctl, "--quiet", "is-enabled", unit) then
    rpm.execute(systemctl, "--no-block", "start", unit)
  end
end
