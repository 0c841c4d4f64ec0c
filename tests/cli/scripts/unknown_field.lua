local scorer = advgnn.scorer("test_current", {root = "/data"})
local experiment = advgnn.experiment{
  name = "typo",
  scorer = {scorer},
}
