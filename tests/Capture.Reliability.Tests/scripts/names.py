"""Names that are not plain identifiers print as Python writes them: guards, and graph notes of a
file whose name has a newline. Usage: names.py; prints the guards, then the graph's code."""
import os
import subprocess
import sys
import tempfile
import torch
import capture


class Odd(torch.nn.Module):
    def __init__(self):
        super().__init__()
        setattr(self, "odd name\n", 2.0)

    def forward(self, x):
        return x * getattr(self, "odd name\n")


for guard in capture.explain(Odd(), torch.randn(3)).guards:
    print("guard:", guard)
folder = tempfile.mkdtemp()
path = os.path.join(folder, "two\nlines.py")
with open(path, "w") as f:
    f.write("import torch\n\ndef f(x):\n    return x.sin() * 2\n\nEXAMPLES = {'f': lambda: (torch.randn(3),)}\n")
print("file:", repr(path))
