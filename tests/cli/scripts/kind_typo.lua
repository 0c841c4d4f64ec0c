-- A mistyped texture kind fails at the line that chooses the dataset, with
-- the valid kinds and the closest one.
local unused = 1
local dataset = advgnn.dataset("synthetic", {kinds = {"checkers"}})
