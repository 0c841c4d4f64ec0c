-- A small finished vig run for the `advgnn score` checks (score_vig_check.sh):
-- two categories, 64 px, narrow widths and one epoch, with the default
-- decoder. bad_width=1 gives stage 1 a width that is not a multiple of 4.
local widths = {8, 16, 32, 64}
if advgnn.args.bad_width then
  widths = {15, 16, 32, 64}
end
local dataset = advgnn.dataset("synthetic", {kinds = {"checker", "dots"}, image_size = 64, train_count = 4,
                                             test_normal_count = 2, test_anomalous_count = 2})
advgnn.experiment{
  name = "vig_scored",
  dataset = dataset,
  encoder = advgnn.encoder("vig", {widths = widths, k = 4, epochs = 1, batch_size = 4}),
  scorers = {advgnn.scorer("memory_bank")},
  image_size = 64,
  batch_size = 4,
  heatmaps = 1,
  output = advgnn.args.out,
}:run()
