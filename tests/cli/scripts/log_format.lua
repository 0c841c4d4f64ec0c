-- Calls advgnn.log with a format string that does not fit its arguments: "%d"
-- with a string, or with case=conversion the unknown conversion "%y".
if advgnn.args.case == "conversion" then
  advgnn.log("info", "%y items", 1)
else
  advgnn.log("info", "%d items", "x")
end
