-- Runs patch_stats on the synthetic dataset (no root) and on the mvtec_ad
-- archives advgnn.args.tar_xz and advgnn.args.zip, after catching the error
-- of a missing root with pcall (root_check.sh).
local ok, message = pcall(advgnn.dataset, "folder", {root = advgnn.args.missing})
assert(not ok, "a missing root was accepted")
print("caught: " .. tostring(message))

local function run(name, dataset)
  local results = advgnn.experiment{
    name = name,
    dataset = dataset,
    encoder = advgnn.encoder("patch_stats"),
    scorers = {advgnn.scorer("memory_bank")},
    image_size = 32,
    heatmaps = 0,
    output = advgnn.args.out .. "/" .. name,
  }:run()
  print(name .. " finished: " .. results.status)
end

run("synthetic", advgnn.dataset("synthetic", {kinds = {"checker"}, image_size = 32, train_count = 4,
                                              test_normal_count = 2, test_anomalous_count = 2}))
run("tar_xz", advgnn.dataset("mvtec_ad", {root = advgnn.args.tar_xz, require_masks = false}))
run("zip", advgnn.dataset("mvtec_ad", {root = advgnn.args.zip, require_masks = false}))
