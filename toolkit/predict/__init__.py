"""`toolkit predict RUN FILE --out OUT`: a trained run (or an export of one) on unlabeled rows.

engines.py says which model answers (PyTorch, ONNX Runtime, CTranslate2) and loads it;
output.py checks `--out` and writes it, staged beside it and renamed into place at the end;
runner.py reads FILE in chunks, has the task predict each chunk (`Task.predict_rows`) and
appends the rows with their prediction columns to the staged output.
"""
