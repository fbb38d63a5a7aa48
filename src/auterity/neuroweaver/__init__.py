"""NeuroWeaver: datasets, training, evaluation, the model registry and deployment."""
