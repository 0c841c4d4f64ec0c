-- Calls advgnn.sweep with an empty grid.
advgnn.sweep({}, function() end)
