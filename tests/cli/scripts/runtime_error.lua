-- A runtime error two calls deep: the message names line 4 and the
-- traceback lists the calls.
local function average(values)
  return values.total / #values
end

local function report()
  return average({1, 2, 3})
end

report()
