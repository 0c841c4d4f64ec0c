-- Workload of bench/data/overlap.sh: one MVTec AD category run with the
-- test images decoded on a background thread (prefetch=true) or before
-- training (prefetch=false).
--
--   build/advgnn run bench/data/overlap.lua root=FOLDER output=FOLDER prefetch=true|false
--       [encoder=patch_stats|cnn_ae] [image_size=N] [epochs=N] [sample_cache=FOLDER]

local encoder_name = advgnn.args.encoder or "patch_stats"
local encoder
if encoder_name == "cnn_ae" then
    encoder = advgnn.encoder("cnn_ae", {
        widths = { 16, 32, 64 },
        feature_stages = { 2, 3 },
        epochs = tonumber(advgnn.args.epochs) or 2,
        batch_size = 4,
        seed = 0,
    })
else
    encoder = advgnn.encoder(encoder_name)
end

local experiment = advgnn.experiment({
    name = "overlap",
    dataset = advgnn.dataset("mvtec_ad", {
        root = advgnn.args.root,
        category = { advgnn.args.category or "bottle" },
        require_masks = false,
    }),
    encoder = encoder,
    scorers = { advgnn.scorer("memory_bank") },
    image_size = tonumber(advgnn.args.image_size) or 256,
    seed = 0,
    heatmaps = 0,
    -- advgnn.args turns "false" into a boolean; a string is accepted too.
    prefetch = advgnn.args.prefetch ~= false and advgnn.args.prefetch ~= "false",
    sample_cache = advgnn.args.sample_cache,
    output = advgnn.args.output,
})

experiment:run()
