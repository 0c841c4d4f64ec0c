-- Prints how key=value arguments reach the script: advgnn.args converts
-- numbers without a leading zero, advgnn.raw_args keeps every text.
local args, raw = advgnn.args, advgnn.raw_args
print(string.format("category=%s %s", args.category, type(args.category)))
print(string.format("epochs=%s %s", args.epochs, math.type(args.epochs)))
print(string.format("scale=%s %s", args.scale, math.type(args.scale)))
print(string.format("raw scale=%s %s", raw.scale, type(raw.scale)))
print(string.format("raw epochs=%s %s", raw.epochs, type(raw.epochs)))
