"""How the model is published: the card, the Hub, ONNX export, the Space bundles, the README figures, examples."""
