"""The benchmarks: each measures one thing against a floor measured in the same run (`python -m bench`)."""
