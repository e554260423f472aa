"""lassi-ee: refactor parallel scientific programs for lower energy, decided by measurement."""

__version__ = "0.1.0"
