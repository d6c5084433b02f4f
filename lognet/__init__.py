"""lognet: a hardware generator for lognormal-connected (codebook-weight) neural-network layers."""

__version__ = "0.1.0"
