-- %post of the -repos package, in rpm's embedded Lua so that it runs where
-- there is no /bin/sh (an installroot, a minimal image). Enables the critical
-- check's timer once: on the first install and on the upgrade from an earlier
-- -repos package that had no timer. The marker keeps it from ever running
-- again, so an administrator's `systemctl disable` stays.
local unit = "hotpush-critical-check.timer"
local state = "/var/lib/hotpush/critical-check"
local marker = state .. "/timer-enabled-by-package"
if posix.access(marker) then
  return
end
local systemctl = "/usr/bin/systemctl"
if posix.access(systemctl, "x") then
  -- 90-hotpush.preset says enable; an administrator's preset may say otherwise.
  rpm.execute(systemctl, "--no-reload", "preset", unit)
else
  -- No systemd in this root (an image being built): what the preset does.
  local wants = "/etc/systemd/system/timers.target.wants"
  for _, dir in ipairs({ "/etc/systemd", "/etc/systemd/system", wants }) do
    posix.mkdir(dir)
  end
  posix.symlink("/usr/lib/systemd/system/" .. unit, wants .. "/" .. unit)
end
for _, dir in ipairs({ "/var/lib/hotpush", state }) do
  posix.mkdir(dir)
end
local f = io.open(marker, "w")
if f then
  f:close()
end
