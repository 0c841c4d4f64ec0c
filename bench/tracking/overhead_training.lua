-- Training workload of bench/tracking/overhead_training.sh: the cnn_ae
-- encoder trains for 2 epochs on one small synthetic category, logging
-- train/step_loss and train/step_lr at every optimizer step. The script runs
-- it with and without MLFLOW_TRACKING_URI and compares the timings in
-- results.json.
--
--   build/advgnn run bench/tracking/overhead_training.lua output=FOLDER [epochs=N] [train_count=N]

local epochs = tonumber(advgnn.args.epochs) or 2
local train_count = tonumber(advgnn.args.train_count) or 32

local dataset = advgnn.dataset("synthetic", {
    kinds = { "fabric" },
    image_size = 64,
    train_count = train_count,
    test_normal_count = 4,
    test_anomalous_count = 4,
    seed = 0,
})

local experiment = advgnn.experiment({
    name = "overhead_training",
    dataset = dataset,
    encoder = advgnn.encoder("cnn_ae", {
        widths = { 16, 32, 64 },
        feature_stages = { 2, 3 },
        epochs = epochs,
        batch_size = 4,
        seed = 0,
    }),
    scorers = { advgnn.scorer("memory_bank") },
    image_size = 64,
    seed = 0,
    heatmaps = 0,
    output = advgnn.args.output,
})

experiment:run()
