"""Builds a Jupyter notebook that compiles and explains with capture, executes it with nbclient on
an ipykernel (python3.11), and prints what its cells showed. Usage: notebook.py OUT.ipynb."""
import os
import sys

import nbclient
import nbformat

# ipykernel 6 under python3.11 warns on stderr about frozen modules and its debugger: not ours
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
cells = [
    "import torch\nimport capture",
    "def block(x):\n    return torch.tanh(x @ x.T).sum(dim=1)\n"
    "x = torch.randn(6, 4)\n"
    "print('matches eager:', torch.allclose(capture.compile(block)(x), block(x), atol=1e-6))",
    "capture.explain(block)(x)",
    "capture.report(title='notebook report')",
]
notebook = nbformat.v4.new_notebook()
notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
nbformat.write(notebook, sys.argv[1])
for index, cell in enumerate(notebook.cells):
    for output in cell.outputs:
        if output.output_type == "stream":
            print(f"cell {index} {output.name}: {output.text.strip()}")
        elif output.output_type == "error":
            print(f"cell {index} error: {output.ename}: {output.evalue}")
        else:
            for mime, data in output.get("data", {}).items():
                print(f"cell {index} {mime}: {' '.join(str(data).split())[:300]}")
