"""Architectures by name (`zoo`), the device and precision a job runs with (`runtime`), the model file
(`checkpoint`) and batched prediction (`inference`).
"""
