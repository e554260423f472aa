"""Devices to compile for where the hardware is absent (nvcc cross-compiles)."""

from lassi_ee.devices import Device

H100 = Device(spec="cuda:0", kind="cuda", name="NVIDIA H100 80GB HBM3", arch="sm_90")
