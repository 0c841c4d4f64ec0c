-- A pyramid vig needs an input divisible by 32. The input is the crop, 100,
-- so the message must name crop, although image_size 128 is a multiple of 32.
local dataset = advgnn.dataset("synthetic", {kinds = {"checker"}, image_size = 128, train_count = 4,
                                             test_normal_count = 2, test_anomalous_count = 2})
local encoder = advgnn.encoder("vig", {preset = "pvig_ti", epochs = 1})
local experiment = advgnn.experiment{name = "crop_100", dataset = dataset, encoder = encoder,
                                     scorers = {advgnn.scorer("memory_bank")}, image_size = 128, crop = 100}
print("not reached")
