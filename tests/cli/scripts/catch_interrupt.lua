-- Catches the error that the first SIGINT raises and keeps looping, so only
-- the second SIGINT can end it (run_stop_check.sh).
print("looping")
io.stdout:flush()
while true do
  pcall(function()
    local n = 0
    while true do n = n + 1 end
  end)
end
