-- advgnn.track with a port that no URL can have.
advgnn.track{uri = "http://127.0.0.1:99999"}
