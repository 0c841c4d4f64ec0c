-- "metirc" is a typo of the option "metric".
local scorer = advgnn.scorer("test_current", {root = "/data", metirc = "cosine"})
