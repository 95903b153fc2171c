"""Intervention families (`families`): what a model is evaluated under, their attacks and corruptions, and the
evaluation stage (`evaluate`). `names` is the torch-free grammar of intervention names every later stage reads;
this package's face imports nothing, so reading names costs no torch.
"""
