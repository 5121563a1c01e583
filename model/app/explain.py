"""Why the model decided: a Grad-CAM heatmap of the evidence for one class, over the 28x28 input."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps
from PIL import Image

from model.tinyvgg import TinyVGG


def grad_cam(model: TinyVGG, x: torch.Tensor, target: int | None = None) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., 2017) on the last conv layer, before its pooling.

    Args:
        model: A TinyVGG in eval mode.
        x: One input, (1, 28, 28) or (1, 1, 28, 28), in [0, 1].
        target: The class to explain; default the predicted one.

    Returns:
        A (28, 28) tensor in [0, 1]: where the evidence for `target` lies.
    """
    x = x.reshape(1, 1, *x.shape[-2:])
    last_relu = model.conv_block_2[-2]  # the block ends with ReLU, then the pooling
    seen = []
    hook = last_relu.register_forward_hook(lambda module, args, out: seen.append(out))
    try:
        with torch.enable_grad():
            logits = model(x)
            target = int(logits.argmax(1)) if target is None else target
            (gradients,) = torch.autograd.grad(logits[0, target], seen[0])
    finally:
        hook.remove()
    activations = seen[0].detach()
    weights = gradients.mean((2, 3), keepdim=True)  # one weight per channel: its average gradient
    cam = F.relu((weights * activations).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    peak = cam.max()
    return (cam / peak if peak > 0 else cam).detach()


def overlay(pixels: np.ndarray, heatmap: torch.Tensor, size: int = 280, alpha: float = 0.5) -> Image.Image:
    """The 28x28 input in gray with the heatmap in colour over it, enlarged to `size` pixels."""
    gray = np.repeat(pixels[..., None].astype(np.float32) / 255, 3, axis=2)
    colour = colormaps["jet"](heatmap.numpy())[..., :3]
    mixed = (1 - alpha) * gray + alpha * colour
    image = Image.fromarray((mixed * 255).astype(np.uint8), mode="RGB")
    return image.resize((size, size), Image.Resampling.NEAREST)
