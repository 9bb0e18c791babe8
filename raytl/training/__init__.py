"""Training: batching, the DeepSpeed engine, `fit`, and distributed prediction."""
