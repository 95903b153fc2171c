"""What a study is: its settings and defaults (`config`) and the runs they expand to (`runs`). Torch-free."""
