"""Architectures by name (`architectures`, torch-free) and their layers (`zoo`), the device and precision a job
runs with (`runtime`), the model file (`checkpoint`) and batched prediction (`inference`).
"""
