-- Opens the mvtec_ad dataset at advgnn.args.root (archive_check.sh).
advgnn.experiment{
  name = "archive",
  dataset = advgnn.dataset("mvtec_ad", {root = advgnn.args.root}),
  encoder = advgnn.encoder("patch_stats"),
  scorers = {advgnn.scorer("memory_bank")},
  image_size = 64,
  output = advgnn.args.out,
}:run()
