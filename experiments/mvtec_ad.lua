-- MVTec AD (Bergmann et al., CVPR 2019) through the mvtec_ad plugin, which
-- reads the published layout from the extracted folder or the archive
-- (mvtec_anomaly_detection.tar.xz). The patch_stats encoder describes each
-- 16 x 16 window by simple statistics, and the memory_bank scorer measures
-- the distance of each test patch to the nearest training patch.
--
--   build/advgnn run experiments/mvtec_ad.lua [root=FOLDER_OR_ARCHIVE] [category=NAME] [seed=N]
--
-- root defaults to ../shared/data/mvtec_ad relative to the repository, whose
-- bottle category has no masks (so require_masks = false and pixel metrics
-- are left out); category defaults to bottle there and may name any category
-- of the full dataset.

local script_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local root = advgnn.args.root or (script_dir .. "/../../shared/data/mvtec_ad")
local category = advgnn.args.category or "bottle"
local seed = advgnn.args.seed or 0

local dataset = advgnn.dataset("mvtec_ad", {
    root = root,
    category = { category },
    require_masks = false,
    -- Hold out a quarter of train/good for the statistics of score fusion.
    validation_ratio = 0.25,
    seed = seed,
})

local experiment = advgnn.experiment({
    name = "mvtec_ad_" .. category,
    dataset = dataset,
    encoder = advgnn.encoder("patch_stats"),
    scorers = { advgnn.scorer("memory_bank") },
    image_size = advgnn.args.image_size or 128,
    seed = seed,
    heatmaps = 10,
    output = advgnn.args.output,
})

experiment:run()
