"""Data-parallel training over MPI (ChainerMN's design): see the README's "Distributed training"."""
