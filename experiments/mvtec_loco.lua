-- MVTec LOCO AD (Bergmann et al., IJCV 2022) through the mvtec_loco plugin:
-- train/good for training, validation/good for score fusion, and the test
-- images with the union of their per-defect masks for the pixel metrics.
-- Encoder and scorer as in experiments/mvtec_ad.lua.
--
--   build/advgnn run experiments/mvtec_loco.lua [root=FOLDER_OR_ARCHIVE] [category=NAME] [seed=N]
--
-- root defaults to ../shared/data/mvtec_loco relative to the repository;
-- category defaults to juice_bottle. The sample there has no test/good
-- images, so the image-level metrics need the full dataset.

local script_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local root = advgnn.args.root or (script_dir .. "/../../shared/data/mvtec_loco")
local category = advgnn.args.category or "juice_bottle"
local seed = advgnn.args.seed or 0

local experiment = advgnn.experiment({
    name = "mvtec_loco_" .. category,
    dataset = advgnn.dataset("mvtec_loco", { root = root, category = { category } }),
    encoder = advgnn.encoder("patch_stats"),
    scorers = { advgnn.scorer("memory_bank") },
    image_size = advgnn.args.image_size or 128,
    seed = seed,
    heatmaps = 10,
    output = advgnn.args.output,
})

experiment:run()
