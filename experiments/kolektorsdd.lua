-- KolektorSDD (Tabernik et al., 2020) through the kolektor plugin. Parts
-- with an all-zero label are normal. A seeded shuffle sends 20% of them to
-- test and 10% of the rest to validation, and every defective part to test.
-- Encoder and scorer as in experiments/mvtec_ad.lua.
--
--   build/advgnn run experiments/kolektorsdd.lua [root=FOLDER_OR_ARCHIVE] [seed=N]
--
-- root defaults to ../shared/data/kolektorsdd relative to the repository.

local script_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local root = advgnn.args.root or (script_dir .. "/../../shared/data/kolektorsdd")
local seed = advgnn.args.seed or 0

local experiment = advgnn.experiment({
    name = "kolektorsdd",
    dataset = advgnn.dataset("kolektor", {
        root = root,
        test_normal_ratio = 0.2,
        validation_ratio = 0.1,
        seed = seed,
    }),
    encoder = advgnn.encoder("patch_stats"),
    scorers = { advgnn.scorer("memory_bank") },
    image_size = advgnn.args.image_size or 128,
    seed = seed,
    heatmaps = 10,
    output = advgnn.args.output,
})

experiment:run()
