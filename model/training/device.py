"""Where training runs and in what arithmetic: the device (cuda, mps, cpu) and the precision that suits it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def select_device(name: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for "auto"; otherwise the named device, if it exists."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA GPU; use --device cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps was asked for, but this PyTorch has no MPS support; use --device cpu")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes in bfloat16 natively, so that bf16 autocast is faster than fp32.

    On x86 CPUs that takes AVX512-BF16 or AMX. PyTorch's own mkldnn check is not the test:
    it is true for any AVX-512 CPU (and AVX2-VNNI-2), where oneDNN converts rather than computes
    in bfloat16. Elsewhere bf16 is emulated and several times slower than fp32.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False  # MPS runs bf16, but no faster than fp32 for a model this small
    capabilities = torch.cpu.get_capabilities()
    if capabilities.get("architecture") == "x86_64":
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()  # Arm: the BF16 extension


def processor_name() -> str:
    """The CPU as a person would name it, with its core count and the vector instructions PyTorch uses on it
    (AVX2, AVX512), and whether it has native bfloat16: timings mean little without them."""
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # Linux: platform.processor() only says x86_64
        models = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        name = models[0] if models else name
    kernels = torch.backends.cpu.get_cpu_capability()
    bf16 = ", native bfloat16" if native_bf16(torch.device("cpu")) else ""
    return f"{name}, {os.cpu_count()} cores, {kernels}{bf16}"


def resolve_precision(precision: str, device: torch.device) -> tuple[str, str]:
    """What `--precision` means on `device`: "fp32" or "bf16", and the reason in words.

    "auto" is bf16 where the device has native bfloat16 and fp32 otherwise; "fp32" and
    "bf16" are taken as asked (the reason of an emulated bf16 says it is slow).

    Raises:
        ValueError: bf16 was asked for on a device that cannot compute in bfloat16.
    """
    if precision == "fp32":
        return "fp32", "as asked"
    native = native_bf16(device)
    where = {"cpu": "this CPU", "cuda": "this GPU"}.get(device.type, device.type)
    if precision == "auto":
        if native:
            return "bf16", f"{where} has native bfloat16" + (": AVX512-BF16/AMX" if device.type == "cpu" else "")
        if device.type == "mps":
            return "fp32", "auto keeps fp32 on MPS"
        return "fp32", "no native bfloat16 here; bf16 would be emulated and slower"
    if precision != "bf16":
        raise ValueError(f"unknown precision {precision!r}")
    if not torch.amp.is_autocast_available(device.type):
        raise ValueError(
            f"this PyTorch has no autocast for {device.type}, so --precision bf16 cannot run there; "
            "use --precision auto or fp32"
        )
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("--precision bf16 needs a GPU with bfloat16 support (Ampere or newer); use --precision auto")
    if native:
        return "bf16", f"as asked; {where} has native bfloat16"
    return "bf16", (
        f"as asked, but {where} has no native bfloat16 (AVX512-BF16 or AMX): it is emulated, "
        "several times slower than fp32; --precision auto picks fp32 here"
    )


def precision_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `--precision` on `device` (auto resolved), or None for plain fp32.

    Raises:
        ValueError: The device cannot compute in bfloat16.
    """
    return torch.bfloat16 if resolve_precision(precision, device)[0] == "bf16" else None
