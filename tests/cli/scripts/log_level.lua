-- Calls advgnn.log with an unknown level.
advgnn.log("loud", "message")
