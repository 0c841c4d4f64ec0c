-- Runs the folder dataset at advgnn.args.root with the default mask options,
-- except require_masks when given (folder_check.sh).
local options = {root = advgnn.args.root}
if advgnn.args.require_masks ~= nil then options.require_masks = advgnn.args.require_masks end
advgnn.experiment{
  name = "folder",
  dataset = advgnn.dataset("folder", options),
  encoder = advgnn.encoder("patch_stats"),
  scorers = {advgnn.scorer("memory_bank")},
  image_size = 32,
  heatmaps = 0,
  output = advgnn.args.out,
}:run()
