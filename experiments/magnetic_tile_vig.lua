-- ViG autoencoder against its baselines on Magnetic Tile Defects: grayscale
-- photographs of magnetic tiles, defect-free ones in MT_Free/Imgs, defective
-- ones with masks in five MT_<defect> folders (see magnetic_tile.lua).
--
-- Four runs on the same split:
--   1. patch_stats + memory_bank: training-free statistics;
--   2. cnn_ae + memory_bank + reconstruction, fused: the convolutional
--      autoencoder baseline;
--   3. vig + memory_bank + reconstruction, fused: the Vision GNN autoencoder
--      (preset from vig_preset, transposed-convolution decoder);
--   4. vig_graph: run 3 with the graph decoder (Grapher + FFN blocks after
--      bilinear upsampling), everything else equal. It is left out unless
--      runs= names it, e.g. runs=vig,vig_graph to compare the two decoders.
-- Each encoder is trained on the defect-free training images. The memory bank
-- contains the encoder's patch features of those images, and the
-- reconstruction scorer maps the error between input and reconstruction. The
-- runner fuses both with statistics from the held-out defect-free validation
-- images. The output ends with a table of the mean metrics of every scorer
-- and of the fusion.
--
--   build/advgnn run experiments/magnetic_tile_vig.lua [root=FOLDER] [seed=N]
--       [image_size=PIXELS] [epochs=N] [vig_preset=small|pvig_ti|...]
--       [coreset_ratio=R] [runs=patch_stats,cnn_ae,vig,vig_graph] [output=FOLDER]
--
-- On an idle 2-core AMD EPYC, one epoch of the small pyramid ViG at 128
-- pixels took 5.7 s (686 images, 121 images/s) in December 2026. The run in
-- docs/results.md took two to four minutes per epoch and encoder on a machine
-- loaded by other jobs. pvig_ti trains at about 8 images/s at 224 pixels
-- (docs/benchmarks.md).

local script_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local root = advgnn.args.root or (script_dir .. "/../../shared/data/magnetic_tile")
local seed = advgnn.args.seed or 0
local image_size = advgnn.args.image_size or 128
local epochs = advgnn.args.epochs or 10
local vig_preset = advgnn.args.vig_preset or "small"
local coreset_ratio = advgnn.args.coreset_ratio or 0.1
local selected = advgnn.args.runs or "patch_stats,cnn_ae,vig"
local output = advgnn.args.output

local function wanted(name)
    for item in string.gmatch(selected, "[^,]+") do
        if item == name then
            return true
        end
    end
    return false
end

local function dataset()
    return advgnn.dataset("folder", {
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
        image_extensions = { ".jpg" },
        mask_extension = ".png",
        mask_threshold = 127,
        test_normal_ratio = 0.2,
        validation_ratio = 0.1,
        seed = seed,
    })
end

local training = { epochs = epochs, batch_size = 8, lr = 2e-3, seed = seed, threads = 0 }

local function with_training(options)
    for key, value in pairs(training) do
        options[key] = value
    end
    return options
end

local runs = {
    {
        name = "patch_stats",
        encoder = advgnn.encoder("patch_stats"),
        scorers = { advgnn.scorer("memory_bank", { coreset_ratio = coreset_ratio }) },
    },
    {
        name = "cnn_ae",
        encoder = advgnn.encoder("cnn_ae", with_training({ widths = { 32, 64, 128, 128 }, feature_stages = { 3, 4 } })),
        scorers = { advgnn.scorer("memory_bank", { coreset_ratio = coreset_ratio }), advgnn.scorer("reconstruction") },
    },
    {
        name = "vig",
        encoder = advgnn.encoder("vig", with_training({ preset = vig_preset, feature_stages = { 2, 3 } })),
        scorers = { advgnn.scorer("memory_bank", { coreset_ratio = coreset_ratio }), advgnn.scorer("reconstruction") },
    },
    {
        name = "vig_graph",
        encoder = advgnn.encoder(
            "vig",
            with_training({ preset = vig_preset, feature_stages = { 2, 3 }, decoder = "graph" })
        ),
        scorers = { advgnn.scorer("memory_bank", { coreset_ratio = coreset_ratio }), advgnn.scorer("reconstruction") },
    },
}

local rows = {}
for _, run in ipairs(runs) do
    if wanted(run.name) then
        local experiment = advgnn.experiment({
            name = "magnetic_tile_" .. run.name,
            dataset = dataset(),
            encoder = run.encoder,
            scorers = run.scorers,
            image_size = image_size,
            seed = seed,
            heatmaps = 10,
            output = output and (output .. "/" .. run.name) or nil,
        })
        local results = experiment:run()
        local mean = type(results) == "table" and type(results.mean) == "table" and results.mean or {}
        for label, metrics in pairs(mean) do
            local row = { encoder = run.name, scorer = label }
            for _, key in ipairs({ "image_auroc", "pixel_auroc", "aupro", "f1_max" }) do
                row[key] = type(metrics[key]) == "number" and string.format("%.4f", metrics[key]) or "n/a"
            end
            rows[#rows + 1] = row
        end
    end
end

table.sort(rows, function(a, b)
    if a.encoder ~= b.encoder then
        return a.encoder < b.encoder
    end
    return a.scorer < b.scorer
end)
print(string.format("\ncomparison on magnetic_tile (seed %d, %d pixels, %d epoch%s, vig preset %s, coreset %g):",
    seed, image_size, epochs, epochs == 1 and "" or "s", vig_preset, coreset_ratio))
io.stdout:write(advgnn.format_table(rows, {
    "encoder",
    "scorer",
    { "image_auroc", title = "image AUROC", align = "right" },
    { "pixel_auroc", title = "pixel AUROC", align = "right" },
    { "aupro", title = "AUPRO", align = "right" },
    { "f1_max", title = "F1-max", align = "right" },
}))
