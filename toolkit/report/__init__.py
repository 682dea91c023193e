"""What runs report: a training run's terminal output, progress callbacks and metrics.json
contents (training.py), and `toolkit report`'s HTML page (html.py) from what a run left behind
(data.py), with its pictures (plots.py)."""
