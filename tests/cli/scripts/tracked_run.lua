-- A small finished run whose tracking goes to the server of --tracking-uri
-- (run_stop_check.sh).
local dataset = advgnn.dataset("synthetic", {kinds = {"checker"}, image_size = 64, train_count = 6,
                                             test_normal_count = 4, test_anomalous_count = 4})
advgnn.experiment{
  name = "tracked",
  dataset = dataset,
  encoder = advgnn.encoder("patch_stats"),
  scorers = {advgnn.scorer("memory_bank")},
  image_size = 64,
  batch_size = 4,
  heatmaps = 1,
  output = advgnn.args.out,
}:run()
