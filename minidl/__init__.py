"""minidl: a from-scratch NumPy/CuPy deep-learning engine that teaches CNNs by being one."""
__version__ = "0.1.0"
