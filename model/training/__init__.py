"""How the model was trained: options, data, augmentation, the loop and its checkpoints, calibration, the report."""
