-- A scorer that fails inside the fit: the message names the scorer and the
-- step, and the hint speaks of a plugin failing on the data.
local experiment = advgnn.experiment{
  name = "failing",
  dataset = advgnn.dataset("synthetic", {kinds = {"checker"}, image_size = 32, train_count = 2,
                                         test_normal_count = 2, test_anomalous_count = 2}),
  encoder = advgnn.encoder("patch_stats"),
  scorers = {advgnn.scorer("cli_failing_scorer")},
  image_size = 32,
  batch_size = 2,
  output = advgnn.args.out,
}
experiment:run()
