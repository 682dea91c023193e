"""`toolkit tune`: hyper-parameter search over a recipe with Optuna.

space.py turns an Optuna trial into a recipe (the `tune:` section's space, set through the same
path as `--set`); pruning.py reports each evaluation to Optuna and stops unpromising trials;
tunedir.py is the tune directory; study.py opens the storage and study and runs the trials;
results.py writes the best recipe, the trials table, the plots and the report.
"""
