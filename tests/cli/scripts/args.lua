-- Prints the script arguments with their Lua types.
local args = advgnn.args
print(string.format("n=%s %s", args.n, math.type(args.n)))
print(string.format("lr=%s %s", args.lr, math.type(args.lr)))
print(string.format("label=%s %s", args.label, type(args.label)))
print(string.format("fast=%s %s", args.fast, type(args.fast)))
