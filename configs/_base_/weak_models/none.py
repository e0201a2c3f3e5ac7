# No weak model: guidance references come from the main network only (CFG, dropout auto-guidance).
weak_model = None
