-- Magnetic Tile Defects (Huang et al., "Surface defect saliency of magnetic
-- tile", The Visual Computer 2018): grayscale photographs of magnetic tiles.
-- MT_Free/Imgs contains the defect-free images. MT_Blowhole, MT_Break,
-- MT_Crack, MT_Fray and MT_Uneven contain the defective ones, each <name>.jpg
-- with its mask <name>.png in the same folder. Masks are anti-aliased, so a
-- pixel counts as defective above 127.
--
-- A seeded shuffle moves 20% of the defect-free images to the test split and
-- holds out 10% of the rest for validation (the statistics of score fusion);
-- the remaining defect-free images are the training set.
--
--   build/advgnn run experiments/magnetic_tile.lua [root=FOLDER] [seed=N] [image_size=PIXELS]
--
-- root defaults to ../shared/data/magnetic_tile relative to the repository.

local script_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local root = advgnn.args.root or (script_dir .. "/../../shared/data/magnetic_tile")
local seed = advgnn.args.seed or 0
local image_size = advgnn.args.image_size or 128

local dataset = advgnn.dataset("folder", {
    root = root,
    category = "magnetic_tile",
    normal_dir = "MT_Free/Imgs",
    defect_dirs = {
        "MT_Blowhole/Imgs",
        "MT_Break/Imgs",
        "MT_Crack/Imgs",
        "MT_Fray/Imgs",
        "MT_Uneven/Imgs",
    },
    -- Every defect folder ends in "Imgs", so name the types.
    defect_types = { "MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Uneven" },
    -- Images are JPEG; the .png files beside them are their masks.
    image_extensions = { ".jpg" },
    mask_extension = ".png",
    mask_threshold = 127,
    test_normal_ratio = 0.2,
    validation_ratio = 0.1,
    seed = seed,
})

local experiment = advgnn.experiment({
    name = "magnetic_tile",
    dataset = dataset,
    encoder = advgnn.encoder("patch_stats"),
    scorers = { advgnn.scorer("memory_bank") },
    image_size = image_size,
    seed = seed,
    heatmaps = 10,
    output = advgnn.args.output,
})

experiment:run()
