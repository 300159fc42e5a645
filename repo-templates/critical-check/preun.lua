-- %preun of the -repos package: on erase (not upgrade) stop and disable the
-- timer and forget that the package enabled it, so a later install enables it.
if tonumber(arg[2]) ~= 0 then
  return
end
local unit = "hotpush-critical-check.timer"
local systemctl = "/usr/bin/systemctl"
if posix.access(systemctl, "x") then
  if posix.stat("/run/systemd/system", "type") == "directory" then
    rpm.execute(systemctl, "--no-reload", "disable", "--now", unit)
  else
    rpm.execute(systemctl, "--no-reload", "disable", unit)
  end
else
  os.remove("/etc/systemd/system/timers.target.wants/" .. unit)
end
os.remove("/var/lib/hotpush/critical-check/timer-enabled-by-package")
