"""TinyVGG on Fashion-MNIST: data, model, training, reports and the model card."""
