"""Reading experiment folders: results.csv, TensorBoard events, checkpoints. The only room
of ``analysis`` that touches disk and ``lvae.contract``."""
