-- MVTec 3D-AD (Bergmann et al., VISAPP 2022), RGB images only, through the
-- mvtec_3d_ad plugin; the dataset's own validation split feeds score fusion.
-- Encoder and scorer as in experiments/mvtec_ad.lua.
--
--   build/advgnn run experiments/mvtec_3d_ad.lua [root=FOLDER_OR_ARCHIVE] [category=NAME] [seed=N]
--
-- root defaults to ../shared/data/mvtec_3d_ad relative to the repository;
-- category defaults to tire.

local script_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local root = advgnn.args.root or (script_dir .. "/../../shared/data/mvtec_3d_ad")
local category = advgnn.args.category or "tire"
local seed = advgnn.args.seed or 0

local experiment = advgnn.experiment({
    name = "mvtec_3d_ad_" .. category,
    dataset = advgnn.dataset("mvtec_3d_ad", { root = root, category = { category } }),
    encoder = advgnn.encoder("patch_stats"),
    scorers = { advgnn.scorer("memory_bank") },
    image_size = advgnn.args.image_size or 128,
    seed = seed,
    heatmaps = 10,
    output = advgnn.args.output,
})

experiment:run()
