-- pvig_ti needs images of at least 96 x 96 for k = 9. advgnn.experiment
-- must reject 64 at its own line, before any run folder exists.
local dataset = advgnn.dataset("synthetic", {kinds = {"checker"}, image_size = 64, train_count = 4,
                                             test_normal_count = 2, test_anomalous_count = 2})
local encoder = advgnn.encoder("vig", {preset = "pvig_ti", epochs = 1})
local experiment = advgnn.experiment{name = "too_small", dataset = dataset, encoder = encoder,
                                     scorers = {advgnn.scorer("memory_bank")}, image_size = 64}
print("not reached")
