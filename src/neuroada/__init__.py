"""NeuroAda: mask-free neuron-level sparse fine-tuning."""
