-- Magnetic Tile Defects through the magnetic_tile plugin, which reads the
-- dataset's own layout (MT_Free as normal, the five MT_<defect> folders as
-- defect types, masks above 127). experiments/magnetic_tile.lua reads the
-- same files through the generic folder plugin.
--
--   build/advgnn run experiments/magnetic_tile_plugin.lua [root=FOLDER_OR_ARCHIVE] [seed=N]
--
-- root defaults to ../shared/data/magnetic_tile relative to the repository.

local script_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local root = advgnn.args.root or (script_dir .. "/../../shared/data/magnetic_tile")
local seed = advgnn.args.seed or 0

local experiment = advgnn.experiment({
    name = "magnetic_tile_plugin",
    dataset = advgnn.dataset("magnetic_tile", {
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
