"""The vocabulary every package shares, below all of them: problems (findings with
file and key path), body part names, alert kinds and system alarms, time formats,
rate-limited logging, credentials. Nothing here imports another safetyd package."""
