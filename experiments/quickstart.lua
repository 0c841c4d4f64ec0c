-- Quick start: procedural textures with pasted defects, so it needs no
-- download. Each texture kind is one category. The patch_stats encoder
-- describes each 16 x 16 window by simple statistics, and the memory_bank
-- scorer measures the distance of each test patch to the nearest training
-- patch.
--
--   build/advgnn run experiments/quickstart.lua [seed=N] [output=FOLDER]
--
-- The results table is printed after the run; results.json, scores.csv and
-- heatmaps/ are in the run's output folder.

local seed = advgnn.args.seed or 0

local dataset = advgnn.dataset("synthetic", {
    kinds = { "checker", "stripes", "fabric", "noise", "dots" },
    image_size = 128,
    train_count = 40,
    test_normal_count = 20,
    test_anomalous_count = 20,
    seed = seed,
})

local experiment = advgnn.experiment({
    name = "quickstart",
    dataset = dataset,
    encoder = advgnn.encoder("patch_stats"),
    scorers = { advgnn.scorer("memory_bank") },
    image_size = 128,
    seed = seed,
    heatmaps = 4,
    output = advgnn.args.output,
})

experiment:run()
