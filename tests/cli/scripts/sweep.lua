-- Prints the shard and the grid points it runs as "index:ab".
local seen = {}
advgnn.sweep({b = {"x", "y", "z"}, a = {1, 2}}, function(point, index)
  seen[#seen + 1] = string.format("%d:%s%s", index, point.a, point.b)
end)
print(string.format("shard %d/%d runs %s", advgnn.shard.index, advgnn.shard.count, table.concat(seen, " ")))
