"""Developer tools: the labelled event generator, model training, local runs and benchmarks."""
