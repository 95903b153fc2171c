"""What a study is: the schema and the defaults read from it (`config`), the runs a study expands to (`runs`), and
the fast recipe's constants (`recipes`). Torch-free.
"""
