"""The data stage: sources by name (`sources`), image folders and archives, the synthetic set, the prepared
arrays every later stage reads (`arrays`, `prepare`), extra test sets (`shift`) and groups CSVs (`subgroups`).
Torch-free (torchvision is imported only to download CIFAR-10).
"""
