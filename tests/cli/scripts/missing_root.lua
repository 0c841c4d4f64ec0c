-- Runs a synthetic experiment, then one on dataset advgnn.args.plugin with
-- root = advgnn.args.root (root_check.sh). A root that does not exist must
-- stop the script at the advgnn.dataset call on line 10, before the first
-- run prints anything or creates its folder.
local synthetic = advgnn.dataset("synthetic", {kinds = {"checker"}, image_size = 32, train_count = 4,
                                               test_normal_count = 2, test_anomalous_count = 2})
local options = {root = advgnn.args.root}
if advgnn.args.plugin == "mvtec_ad" then options.require_masks = false end
print("script started")
local named = advgnn.dataset(advgnn.args.plugin, options)

local function run(name, dataset)
  return advgnn.experiment{
    name = name,
    dataset = dataset,
    encoder = advgnn.encoder("patch_stats"),
    scorers = {advgnn.scorer("memory_bank")},
    image_size = 32,
    heatmaps = 0,
    output = advgnn.args.out .. "/" .. name,
  }:run()
end

run("synthetic", synthetic)
run("named", named)
