"""Intervention families by name (`registry`, torch-free) and the classes that evaluate them (`families`), their
attacks and corruptions, the evaluation stage (`evaluate`), and the grammar of intervention names (`names`,
torch-free). This package's face imports nothing, so reading names or the registry costs no torch.
"""
