-- feature_pool must be odd, a rule of vig's own check: the script stops at
-- advgnn.encoder, before it defines or runs any experiment.
local encoder = advgnn.encoder("vig", {feature_pool = 2})
print("not reached")
