local scorer = advgnn.scorer("test_current", {root = "/data", k = "three"})
