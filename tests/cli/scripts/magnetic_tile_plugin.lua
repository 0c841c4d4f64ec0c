-- Opens the magnetic_tile dataset at advgnn.args.root. The file name
-- contains "plugin", like experiments/magnetic_tile_plugin.lua, so a hint
-- chosen by that word in the message would be about plugin loading.
advgnn.dataset("magnetic_tile", {root = advgnn.args.root})
