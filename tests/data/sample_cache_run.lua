-- Runs the MVTec AD bottle category twice through one sample cache folder,
-- with prefetch on (the default). The second run copies every image from
-- the cache, which its log line "10 from the cache" shows, and must give
-- the image AUROC of the first.
--
--   advgnn run sample_cache_run.lua root=FOLDER output=FOLDER cache=FOLDER

local function run(output)
    local experiment = advgnn.experiment({
        name = "sample_cache",
        dataset = advgnn.dataset("mvtec_ad", {
            root = advgnn.args.root,
            category = { "bottle" },
            require_masks = false,
        }),
        encoder = advgnn.encoder("patch_stats"),
        scorers = { advgnn.scorer("memory_bank") },
        image_size = 64,
        heatmaps = 0,
        sample_cache = advgnn.args.cache,
        output = output,
    })
    return experiment:run()
end

local first = run(advgnn.args.output .. "/first")
local second = run(advgnn.args.output .. "/second")
local a = first.categories.bottle.metrics.memory_bank.image_auroc
local b = second.categories.bottle.metrics.memory_bank.image_auroc
if a ~= b then
    error(string.format("image AUROC %s with a cold cache but %s with a warm one", a, b))
end
print("same image AUROC: " .. a)
