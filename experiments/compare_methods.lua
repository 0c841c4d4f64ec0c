-- The Vision GNN autoencoder against its baselines on real images, trained
-- longer than in magnetic_tile_vig.lua's quick check. Three runs per dataset:
--   patch_stats + memory_bank: training-free patch statistics;
--   cnn_ae + memory_bank + reconstruction, fused: the convolutional
--     autoencoder baseline;
--   vig + memory_bank + reconstruction, fused: the Vision GNN autoencoder
--     (preset from vig_preset, transposed-convolution decoder).
-- All three runs of a dataset use the same split:
--   bottle         MVTec AD bottle (the sample in the shared data folder:
--                  20 train/good images, a quarter held out for validation,
--                  10 test images without masks, so no pixel metrics);
--   magnetic_tile  Magnetic Tile Defects (20% of the defect-free images
--                  moved to test and 10% of the rest to validation; masks
--                  binarized above 127).
-- The encoders train with batch 8, Adam at lr 0.002, a cosine schedule with
-- one warm-up epoch and the loss MSE + 0.5 (1 - SSIM), for `epochs` epochs
-- on magnetic_tile and `bottle_epochs` on bottle. An epoch of the 15 bottle
-- training images is one step of 8 images, so bottle needs more epochs.
-- Fusion takes its statistics from the validation images. The script ends
-- with a table of each scorer's metrics and a table of the training history
-- that each run copies into its results.json ("training").
--
--   build/advgnn --threads 2 run experiments/compare_methods.lua [data=FOLDER]
--       [datasets=bottle,magnetic_tile] [epochs=N] [bottle_epochs=N]
--       [vig_preset=small|pvig_ti|...]
--       [magnetic_tile_root=FOLDER] [image_size=PIXELS] [coreset_ratio=R] [seed=N]
--       [runs=patch_stats,cnn_ae,vig] [output=FOLDER]
--
-- data defaults to ../shared/data beside the repository, and
-- magnetic_tile_root to <data>/magnetic_tile; a folder of the same layout
-- with fewer images makes a shorter run. NOTE: one epoch over the 686
-- training images of the full magnetic_tile split takes two to four minutes
-- per encoder on two shared cores at 128 pixels (docs/results.md). The
-- default epochs therefore need over an hour there, and docs/results.md
-- records a run on a subset.

local script_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local data = advgnn.args.data or (script_dir .. "/../../shared/data")
local magnetic_tile_root = advgnn.args.magnetic_tile_root or (data .. "/magnetic_tile")
local selected_datasets = advgnn.args.datasets or "bottle,magnetic_tile"
local epochs = advgnn.args.epochs or 8
local bottle_epochs = advgnn.args.bottle_epochs or 40
local vig_preset = advgnn.args.vig_preset or "small"
local image_size = advgnn.args.image_size or 128
local coreset_ratio = advgnn.args.coreset_ratio or 0.02
local seed = advgnn.args.seed or 0
local selected_runs = advgnn.args.runs or "patch_stats,cnn_ae,vig"
local output = advgnn.args.output

local function listed(list, name)
    for item in string.gmatch(list, "[^,]+") do
        if item == name then
            return true
        end
    end
    return false
end

-- Dataset constructors by name. Each call makes a fresh plugin instance.
local datasets = {
    {
        name = "bottle",
        epochs = bottle_epochs,
        create = function()
            return advgnn.dataset("mvtec_ad", {
                root = data .. "/mvtec_ad",
                category = { "bottle" },
                require_masks = false,
                validation_ratio = 0.25,
                seed = seed,
            })
        end,
    },
    {
        name = "magnetic_tile",
        epochs = epochs,
        create = function()
            return advgnn.dataset("magnetic_tile", {
                root = magnetic_tile_root,
                test_normal_ratio = 0.2,
                validation_ratio = 0.1,
                seed = seed,
            })
        end,
    },
}

local function with_training(options, dataset)
    local training = { epochs = dataset.epochs, batch_size = 8, lr = 2e-3, seed = seed }
    for key, value in pairs(training) do
        options[key] = value
    end
    return options
end

local function bank()
    return advgnn.scorer("memory_bank", { coreset_ratio = coreset_ratio })
end

local runs = {
    {
        name = "patch_stats",
        encoder = function(_)
            return advgnn.encoder("patch_stats")
        end,
        scorers = function()
            return { bank() }
        end,
    },
    {
        name = "cnn_ae",
        encoder = function(dataset)
            return advgnn.encoder("cnn_ae",
                with_training({ widths = { 32, 64, 128, 128 }, feature_stages = { 3, 4 } }, dataset))
        end,
        scorers = function()
            return { bank(), advgnn.scorer("reconstruction") }
        end,
    },
    {
        name = "vig",
        encoder = function(dataset)
            return advgnn.encoder("vig", with_training({ preset = vig_preset, feature_stages = { 2, 3 } }, dataset))
        end,
        scorers = function()
            return { bank(), advgnn.scorer("reconstruction") }
        end,
    },
}

local function number(value)
    return type(value) == "number" and string.format("%.4f", value) or "n/a"
end

local function median(values)
    if #values == 0 then
        return nil
    end
    table.sort(values)
    local middle = (#values + 1) // 2
    return #values % 2 == 1 and values[middle] or (values[middle] + values[middle + 1]) / 2
end

-- One row of the training table from a category's "training" object.
local function training_row(dataset_name, run_name, category, run_seconds)
    local history = category.training
    if type(history) ~= "table" or type(history.epochs) ~= "table" or #history.epochs == 0 then
        return nil
    end
    local first, last, seconds = history.epochs[1], history.epochs[#history.epochs], {}
    for _, epoch in ipairs(history.epochs) do
        seconds[#seconds + 1] = epoch.seconds
    end
    local function change(key)
        return string.format("%s -> %s", number(first[key]), number(last[key]))
    end
    return {
        dataset = dataset_name,
        encoder = run_name,
        epochs = #history.epochs,
        epoch_seconds = string.format("%.1f", median(seconds)),
        train_loss = change("train_loss"),
        val_loss = change("val_loss"),
        best_epoch = history.best_epoch,
        run_seconds = string.format("%.0f", run_seconds),
    }
end

local metric_rows, training_rows = {}, {}
for _, dataset in ipairs(datasets) do
    for _, run in ipairs(runs) do
        if listed(selected_datasets, dataset.name) and listed(selected_runs, run.name) then
            local experiment = advgnn.experiment({
                name = dataset.name .. "_" .. run.name,
                dataset = dataset.create(),
                encoder = run.encoder(dataset),
                scorers = run.scorers(),
                image_size = image_size,
                seed = seed,
                heatmaps = 10,
                output = output and (output .. "/" .. dataset.name .. "_" .. run.name) or nil,
            })
            local results = experiment:run()
            for label, metrics in pairs(results.mean or {}) do
                metric_rows[#metric_rows + 1] = {
                    dataset = dataset.name,
                    encoder = run.name,
                    scorer = label,
                    image_auroc = number(metrics.image_auroc),
                    pixel_auroc = number(metrics.pixel_auroc),
                    aupro = number(metrics.aupro),
                    f1_max = number(metrics.f1_max),
                }
            end
            for _, category in pairs(results.categories or {}) do
                training_rows[#training_rows + 1] = training_row(dataset.name, run.name, category, results.seconds)
            end
        end
    end
end

local function by_dataset_encoder(a, b)
    if a.dataset ~= b.dataset then
        return a.dataset < b.dataset
    end
    if a.encoder ~= b.encoder then
        return a.encoder < b.encoder
    end
    return (a.scorer or "") < (b.scorer or "")
end
table.sort(metric_rows, by_dataset_encoder)
table.sort(training_rows, by_dataset_encoder)

print(string.format("\ncomparison (seed %d, %d pixels, %d epochs on magnetic_tile and %d on bottle, vig preset %s, "
    .. "coreset %g):", seed, image_size, epochs, bottle_epochs, vig_preset, coreset_ratio))
io.stdout:write(advgnn.format_table(metric_rows, {
    "dataset",
    "encoder",
    "scorer",
    { "image_auroc", title = "image AUROC", align = "right" },
    { "pixel_auroc", title = "pixel AUROC", align = "right" },
    { "aupro", title = "AUPRO", align = "right" },
    { "f1_max", title = "F1-max", align = "right" },
}))
print("\ntraining (median epoch wall time; losses of the first and the last epoch):")
io.stdout:write(advgnn.format_table(training_rows, {
    "dataset",
    "encoder",
    "epochs",
    { "epoch_seconds", title = "s/epoch", align = "right" },
    { "train_loss", title = "train loss" },
    { "val_loss", title = "validation loss" },
    { "best_epoch", title = "best epoch", align = "right" },
    { "run_seconds", title = "run s", align = "right" },
}))
