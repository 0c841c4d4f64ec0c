-- A small finished run for the `advgnn score` checks (score_check.sh).
-- kind=dots (score_vig_check.sh) gives maps that are flat on a uniform image.
-- two=1 adds a second scorer, labelled "bank_all", so that the scores fuse.
local scorers = {advgnn.scorer("memory_bank")}
if advgnn.args.two then
  scorers = {advgnn.scorer("memory_bank"), {advgnn.scorer("memory_bank", {coreset_ratio = 1}), label = "bank_all"}}
end
local dataset = advgnn.dataset("synthetic", {kinds = {advgnn.args.kind or "checker"}, image_size = 64, train_count = 6,
                                             test_normal_count = 4, test_anomalous_count = 4})
advgnn.experiment{
  name = "scored",
  dataset = dataset,
  encoder = advgnn.encoder("patch_stats"),
  scorers = scorers,
  image_size = 64,
  batch_size = 4,
  heatmaps = 1,
  output = advgnn.args.out,
}:run()
