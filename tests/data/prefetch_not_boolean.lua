-- An experiment whose prefetch field is not a boolean must be rejected.
advgnn.experiment({
    dataset = advgnn.dataset("synthetic"),
    encoder = advgnn.encoder("patch_stats"),
    scorers = { advgnn.scorer("memory_bank") },
    prefetch = "yes",
})
