"""Reads each safetensors file given on the command line with Hugging Face's own reader (the
`safetensors` package in the project's .venv) and prints, as JSON, whether it loads or why not."""
import json
import sys

from safetensors.numpy import load_file

out = []
for path in sys.argv[1:]:
    try:
        load_file(path)
        out.append({"ok": True})
    except Exception as e:  # the reader's SafetensorError, or a numpy error on the loaded bytes
        out.append({"ok": False, "error": f"{type(e).__name__}: {e}"[:200]})
print(json.dumps(out))
