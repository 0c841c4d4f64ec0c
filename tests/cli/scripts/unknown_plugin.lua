local scorer = advgnn.scorer("test_curent", {root = "/data"})
