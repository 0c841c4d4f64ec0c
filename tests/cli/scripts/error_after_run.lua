-- Runs a small experiment into advgnn.args.out, then fails: the results
-- folder of the finished run must stay.
local dataset = advgnn.dataset("synthetic", {kinds = {"checker"}, image_size = 64, train_count = 6,
                                             test_normal_count = 4, test_anomalous_count = 4})
local experiment = advgnn.experiment{
  name = "kept",
  dataset = dataset,
  encoder = advgnn.encoder("patch_stats"),
  scorers = {advgnn.scorer("memory_bank")},
  image_size = 64,
  batch_size = 4,
  heatmaps = 1,
  output = advgnn.args.out,
}
local results = experiment:run()
local missing = results.categories.checker.no_such_table.value
